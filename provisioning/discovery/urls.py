from django.urls import path

from provisioning.discovery import views

app_name = "discovery"

urlpatterns = [
    path("discover/", views.discovery_new, name="discovery-new"),
    path("discover/<int:source_id>/", views.discovery_detail, name="discovery-detail"),
]
