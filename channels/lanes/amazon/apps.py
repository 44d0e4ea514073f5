from django.apps import AppConfig


class AmazonLaneConfig(AppConfig):
    """The Amazon lane as an app: it brings its management commands (it has no models)."""

    name = "channels.lanes.amazon"
    label = "amazon_lane"
