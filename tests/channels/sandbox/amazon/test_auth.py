"""Login with Amazon and the access token every SP-API call carries."""

from __future__ import annotations

import requests

from tests.channels.sandbox.amazon.support import US, SpApi


def _token(handle, **overrides) -> requests.Response:
    form = {
        "grant_type": "refresh_token",
        "client_id": handle.client_id,
        "client_secret": handle.client_secret,
        "refresh_token": handle.refresh_token,
        **overrides,
    }
    return requests.post(handle.token_url, data=form, timeout=5)


def test_refresh_token_grant_returns_an_access_token(handle):
    response = _token(handle)

    assert response.status_code == 200
    body = response.json()
    assert body["access_token"].startswith("Atza|")
    assert body["refresh_token"] == handle.refresh_token
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600


def test_unknown_refresh_token_is_an_invalid_grant(handle):
    response = _token(handle, refresh_token="Atzr|nobody")

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "The request has an invalid grant parameter : refresh_token",
    }


def test_wrong_client_secret_is_an_invalid_client(handle):
    response = _token(handle, client_secret="guess")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_missing_field_is_an_invalid_request(handle):
    response = _token(handle, refresh_token="")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_a_call_without_a_token_is_403_unauthorized(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=3)

    response = api.session.get(
        api.handle.url + api.listing_path("TEE-M"), params={"marketplaceIds": US}
    )

    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "Unauthorized"
    assert "x-amzn-RequestId" in response.headers
    assert "x-amzn-RateLimit-Limit" not in response.headers


def test_an_unknown_or_revoked_token_is_403(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=3)
    assert api.call("GET", api.listing_path("TEE-M"), {"marketplaceIds": US}).status_code == 200

    sandbox.revoke_tokens()

    response = api.call("GET", api.listing_path("TEE-M"), {"marketplaceIds": US})
    assert response.status_code == 403
    assert response.json()["errors"][0]["message"] == "Access to requested resource is denied."
    bogus = api.call("GET", api.listing_path("TEE-M"), {"marketplaceIds": US}, token="Atza|x")
    assert bogus.status_code == 403


def test_an_access_token_expires_after_its_lifetime(api: SpApi, sandbox, clock):
    sandbox.add_listing("TEE-M", quantity=3)
    assert api.call("GET", api.listing_path("TEE-M"), {"marketplaceIds": US}).status_code == 200

    clock.advance(3600)

    assert api.call("GET", api.listing_path("TEE-M"), {"marketplaceIds": US}).status_code == 403


def test_a_token_only_opens_its_own_sellers_listings(api: SpApi, sandbox):
    sandbox.add_seller("A2OTHERSELLER")
    sandbox.add_listing("TEE-M", quantity=3, seller_id="A2OTHERSELLER")

    response = api.call("GET", api.listing_path("TEE-M", "A2OTHERSELLER"), {"marketplaceIds": US})

    assert response.status_code == 403
    own = api.call(
        "GET",
        api.listing_path("TEE-M", "A2OTHERSELLER"),
        {"marketplaceIds": US},
        seller_id="A2OTHERSELLER",
    )
    assert own.status_code == 200


def test_the_host_header_is_ignored(api: SpApi, sandbox):
    # python-amazon-sp-api sends host = endpoint[8:], e.g. "27.0.0.1:8765" for http:// URLs.
    sandbox.add_listing("TEE-M", quantity=3)

    response = api.call(
        "GET", api.listing_path("TEE-M"), {"marketplaceIds": US}, headers={"Host": "27.0.0.1:1"}
    )

    assert response.status_code == 200
    assert response.json()["sku"] == "TEE-M"
