from django.urls import path

from provisioning.runs import views

app_name = "provisioning"

urlpatterns = [
    path("p/<slug:slug>/runs/", views.run_list, name="run-list"),
    path("p/<slug:slug>/runs/new/", views.run_create, name="run-create"),
    path("p/<slug:slug>/runs/<int:run_id>/", views.run_detail, name="run-detail"),
    path("p/<slug:slug>/runs/<int:run_id>/live/", views.run_live, name="run-live"),
    path("p/<slug:slug>/runs/<int:run_id>/approve/", views.run_approve, name="run-approve"),
    path("p/<slug:slug>/runs/<int:run_id>/cancel/", views.run_cancel, name="run-cancel"),
]
