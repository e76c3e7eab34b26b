from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from bmadweb import auth_views, oidc
from provisioning.api import api
from provisioning.webhooks import urls as webhook_urls


class FaviconView(RedirectView):
    """/favicon.ico → the icon's static URL, looked up per request (in production the
    manifest storage names it, and only after collectstatic)."""

    permanent = True

    def get_redirect_url(self, *args: object, **kwargs: object) -> str:
        return static("favicon.svg")


handler400 = "bmadweb.error_views.bad_request"
handler403 = "bmadweb.error_views.permission_denied"
handler404 = "bmadweb.error_views.page_not_found"
handler500 = "bmadweb.error_views.server_error"

admin.site.site_header = "bmadweb platform administration"
admin.site.site_title = "bmadweb admin"

urlpatterns = [
    # Browsers ask for /favicon.ico on pages that name no icon (the admin, the RQ pages).
    path("favicon.ico", FaviconView.as_view()),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("oidc/authenticate/", oidc.OidcSignIn.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", oidc.OidcCallback.as_view(), name="oidc_authentication_callback"),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("hooks/", include(webhook_urls.receiver_urlpatterns)),
    path("", include(webhook_urls.urlpatterns)),
    path("api/v1/", api.urls),
    path("account/", include("bmadweb.token_urls")),
    path("", include("bmadweb.ops_urls")),
    path("", include("provisioning.runs.urls")),
    path("", include("provisioning.campaigns.urls")),
    path("", include("provisioning.discovery.urls")),
    path("", include("provisioning.notifications.urls")),
    path("", include("projects.urls")),
]
