from django.apps import AppConfig


class ShopifyLaneConfig(AppConfig):
    """The Shopify lane as an app: it brings its management commands (it has no models)."""

    name = "channels.lanes.shopify"
    label = "shopify_lane"
