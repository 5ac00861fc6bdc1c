from django.apps import AppConfig


class DemoShopConfig(AppConfig):
    name = "demo_shop"

    def ready(self) -> None:
        from . import receivers  # noqa: F401 - connects the webhook receiver
