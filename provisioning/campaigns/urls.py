from django.urls import path

from provisioning.campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("fleet/", views.fleet, name="fleet"),
    path("campaigns/", views.campaign_list, name="campaign-list"),
    path("campaigns/new/", views.campaign_new, name="campaign-new"),
    path("campaigns/<int:campaign_id>/", views.campaign_detail, name="campaign-detail"),
    path("campaigns/<int:campaign_id>/approve/", views.campaign_approve, name="campaign-approve"),
    path("campaigns/<int:campaign_id>/retry/", views.campaign_retry, name="campaign-retry"),
    path("campaigns/<int:campaign_id>/cancel/", views.campaign_cancel, name="campaign-cancel"),
]
