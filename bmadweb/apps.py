from django.apps import AppConfig


class BmadwebConfig(AppConfig):
    name = "bmadweb"
    verbose_name = "bmadweb"

    def ready(self) -> None:
        from bmadweb import checks  # noqa: F401  (registers the system checks)
