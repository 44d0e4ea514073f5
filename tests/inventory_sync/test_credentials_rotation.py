"""Channel credentials survive a new SECRET_KEY or a new credentials key, through the documented
rotation (README, "Rotating keys"): real Fernet encryption, real rows, real webhooks.

Settings come from the environment at start-up, so a changed key means restarted processes:
`restart` changes the settings and forgets what the running process decrypted before.
"""

from __future__ import annotations

import json
import logging
from itertools import count

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.urls import reverse

from access.models import AuditEntry
from channels.lanes.shopify import intake
from channels.lanes.shopify import webhooks as shopify_webhooks
from channels.models import Channel, InboundEvent
from inventory_sync.lib import secrets
from tests.factories import ChannelFactory

WEBHOOK_SECRET = "shpss_rotation_test"
OLD_SECRET_KEY = "old-" + "o" * 30 + "-secret-key-of-this-installation"
NEW_SECRET_KEY = "new-" + "n" * 30 + "-secret-key-of-this-installation"
_event_ids = count(1)


@pytest.fixture
def restart(settings):
    def _restart(**changed) -> None:
        for name, value in changed.items():
            setattr(settings, name, value)
        intake._secrets.clear()

    _restart(SECRET_KEY=OLD_SECRET_KEY, SECRET_KEY_FALLBACKS=[], CREDENTIALS_KEYS=[])
    yield _restart
    intake._secrets.clear()


@pytest.fixture
def shop(db, restart):
    channel = ChannelFactory(code="rotation-shop")
    channel.credentials = {"access_token": "shpat_x", "webhook_secret": WEBHOOK_SECRET}
    channel.save()
    return channel


def deliver(client, channel):
    event_id = next(_event_ids)
    body = json.dumps({"id": event_id, "line_items": []}).encode()
    return client.post(
        reverse("webhooks:shopify", args=[channel.pk]),
        data=body,
        content_type="application/json",
        HTTP_X_SHOPIFY_TOPIC="orders/create",
        HTTP_X_SHOPIFY_HMAC_SHA256=shopify_webhooks.sign(WEBHOOK_SECRET, body),
        HTTP_X_SHOPIFY_EVENT_ID=str(event_id),
        HTTP_X_SHOPIFY_WEBHOOK_ID=f"delivery-{event_id}",
    )


def sealed(channel) -> bytes:
    return Channel.objects.get(pk=channel.pk).credentials_sealed.encode()


def test_a_new_secret_key_alone_refuses_webhooks_and_says_how_to_recover(
    shop, client, restart, caplog
):
    restart(SECRET_KEY=NEW_SECRET_KEY)

    with caplog.at_level(logging.ERROR, logger="channels.lanes.shopify.intake"):
        answer = deliver(client, shop)

    assert answer.status_code == 503
    assert answer.json() == {"detail": "Channel credentials unreadable."}
    assert not InboundEvent.objects.exists()
    assert "put the previous one in SECRET_KEY_FALLBACKS" in caplog.text
    with pytest.raises(CommandError, match="rotation-shop: Channel credentials cannot be"):
        call_command("rotate_credentials")


def test_a_secret_key_rotation_keeps_webhooks_working_and_then_drops_the_old_key(
    shop, client, restart, capsys
):
    restart(SECRET_KEY=NEW_SECRET_KEY, SECRET_KEY_FALLBACKS=[OLD_SECRET_KEY])
    assert deliver(client, shop).status_code == 200

    call_command("rotate_credentials")
    assert "1 channel(s) re-sealed under the first key" in capsys.readouterr().out
    Fernet(secrets.derived_key(NEW_SECRET_KEY)).decrypt(sealed(shop))

    restart(SECRET_KEY_FALLBACKS=[])
    assert deliver(client, shop).status_code == 200
    assert InboundEvent.objects.count() == 2


def test_with_credentials_keys_a_new_secret_key_changes_nothing(shop, client, restart):
    """Production names its own credentials key: moving to it re-seals once, after which
    SECRET_KEY can change freely."""
    own_key = Fernet.generate_key().decode()
    restart(CREDENTIALS_KEYS=[own_key])
    # Sealed under the derived key still opens: the move loses nothing before the re-seal.
    assert deliver(client, shop).status_code == 200
    call_command("rotate_credentials")
    signed = AuditEntry.objects.get(action="channel.rotate_credentials")
    assert (signed.via, signed.after["resealed"]) == ("command", 1)
    assert WEBHOOK_SECRET not in str(signed.after)

    restart(SECRET_KEY=NEW_SECRET_KEY)

    assert deliver(client, shop).status_code == 200
    assert Channel.objects.get(pk=shop.pk).credentials["webhook_secret"] == WEBHOOK_SECRET


def test_a_credentials_key_rotation_re_seals_every_channel_under_the_new_key(
    shop, client, restart, capsys
):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    restart(CREDENTIALS_KEYS=[old_key])
    call_command("rotate_credentials")
    empty = ChannelFactory(code="no-credentials-yet")
    capsys.readouterr()

    restart(CREDENTIALS_KEYS=[new_key, old_key])
    assert deliver(client, shop).status_code == 200
    call_command("rotate_credentials")
    call_command("rotate_credentials")
    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith("1 channel(s) re-sealed under the first key, 0 already")
    assert second.startswith("0 channel(s) re-sealed under the first key, 1 already")
    assert Channel.objects.get(pk=empty.pk).credentials_sealed == ""
    with pytest.raises(InvalidToken):
        Fernet(old_key).decrypt(sealed(shop))

    restart(CREDENTIALS_KEYS=[new_key])
    assert deliver(client, shop).status_code == 200
    restart(CREDENTIALS_KEYS=[old_key], SECRET_KEY=NEW_SECRET_KEY)
    assert deliver(client, shop).status_code == 503


def test_a_re_seal_leaves_a_row_that_changed_since_it_was_read(shop, restart, monkeypatch):
    """Compare-and-set: credentials typed in while the command runs were sealed under the
    first key by that write and are not overwritten with the older secret."""
    restart(CREDENTIALS_KEYS=[Fernet.generate_key().decode(), secrets.derived_key(OLD_SECRET_KEY)])
    original = secrets.reseal

    def someone_edits_meanwhile(token: str) -> str | None:
        edited = Channel.objects.get(pk=shop.pk)
        edited.credentials = {"webhook_secret": "typed-in-meanwhile"}
        edited.save()
        return original(token)

    monkeypatch.setattr(secrets, "reseal", someone_edits_meanwhile)

    report = secrets.reseal_rows(Channel.objects.filter(pk=shop.pk), "credentials_sealed")

    assert (report.resealed, report.current, report.unreadable) == (0, 1, [])
    assert Channel.objects.get(pk=shop.pk).credentials == {"webhook_secret": "typed-in-meanwhile"}


def test_a_malformed_credentials_key_fails_the_system_check(settings):
    settings.CREDENTIALS_KEYS = ["not-a-fernet-key"]

    with pytest.raises(SystemCheckError, match=r"inventory_sync\.E001"):
        call_command("check")


def test_generate_key_prints_a_key_that_seals(capsys):
    call_command("rotate_credentials", "--generate-key")

    key = capsys.readouterr().out.strip()
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"x")) == b"x"
