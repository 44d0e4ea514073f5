from django.urls import path

from . import views

app_name = "reconciliation"

urlpatterns = [
    path("", views.run_list, name="runs"),
    path("runs/<int:pk>/", views.run_row, name="run-row"),
    path("drift/", views.drift_list, name="drift"),
    path("drift/<int:pk>/resolve/", views.drift_resolve, name="drift-resolve"),
    path("halts/", views.halt_list, name="halts"),
    path("halts/<int:pk>/release/", views.halt_release, name="halt-release"),
    path("listings/push-now/", views.listing_push_now, name="listing-push-now"),
    path("dead-man/", views.dead_man, name="dead-man"),
    path("dead-man/summary/", views.dead_man_summary, name="dead-man-summary"),
    path("dead-man/<int:pk>/clear/", views.dead_man_clear, name="dead-man-clear"),
    path("discrepancies/", views.discrepancy_list, name="discrepancies"),
    path("discrepancies/<int:pk>/review/", views.discrepancy_review, name="discrepancy-review"),
]
