"""The real URLconf plus /bench/trivial/, the baseline bench/webhooks.py compares with."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def trivial(request: HttpRequest) -> HttpResponse:
    """Reads the body and answers, through the same middleware as the receiver."""
    request.read()
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/trivial/", trivial),
    path("", include("bmadweb.urls")),
]
