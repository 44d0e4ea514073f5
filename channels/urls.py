from django.urls import path

from . import views

app_name = "channels"

urlpatterns = [
    path("skus/<str:code>/listings/", views.sku_listings, name="sku-listings"),
]
