from django.urls import path

from . import views

app_name = "ledger"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("oversold/", views.oversold, name="oversold"),
    path("skus/", views.sku_list, name="sku-list"),
    path("skus/<str:code>/", views.sku_detail, name="sku-detail"),
    path("stock/", views.stock_action, name="stock"),
]
