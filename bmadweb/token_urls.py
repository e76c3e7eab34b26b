from django.urls import path

from bmadweb import token_views

app_name = "account"

urlpatterns = [
    path("tokens/", token_views.token_list, name="token-list"),
    path("tokens/new/", token_views.token_create_view, name="token-create"),
    path("tokens/<int:token_id>/revoke/", token_views.token_revoke_view, name="token-revoke"),
]
