from django.urls import path

from . import views

app_name = "insight"

urlpatterns = [
    path("", views.insight, name="insight"),
    path("reorder.csv", views.reorder_csv, name="reorder-csv"),
]
