"""Routes of the CJ API, mounted under /api/v1/."""

from django.urls import path

from assessments.api import views

app_name = "assessments"

urlpatterns = [
    path("assignments", views.AssignmentListCreateView.as_view(), name="assignment-list"),
    path("assignments/<int:assignment_id>", views.AssignmentDetailView.as_view(), name="assignment-detail"),
    path("assignments/<int:assignment_id>/anchors", views.AnchorListCreateView.as_view(), name="anchor-list"),
    path("assignments/<int:assignment_id>/anchors/<int:anchor_id>", views.AnchorDetailView.as_view(), name="anchor-detail"),
    path("batches", views.BatchListCreateView.as_view(), name="batch-list"),
    path("batches/<int:batch_id>", views.BatchDetailView.as_view(), name="batch-detail"),
    path("batches/<int:batch_id>/results", views.BatchResultsView.as_view(), name="batch-results"),
    path("batches/<int:batch_id>/comparisons", views.BatchComparisonsView.as_view(), name="batch-comparisons"),
    path("batches/<int:batch_id>/cancel", views.BatchCancelView.as_view(), name="batch-cancel"),
    path("batches/<int:batch_id>/continue", views.BatchContinueView.as_view(), name="batch-continue"),
    path("batches/<int:batch_id>/rescore", views.BatchRescoreView.as_view(), name="batch-rescore"),
    path("batches/<int:batch_id>/next-pair", views.BatchNextPairView.as_view(), name="batch-next-pair"),
    path("batches/<int:batch_id>/judgements", views.BatchJudgementsView.as_view(), name="batch-judgements"),
    path("batches/<int:batch_id>/judges", views.BatchJudgesView.as_view(), name="batch-judges"),
    path("batches/<int:batch_id>/excluded-judges", views.BatchExcludedJudgesView.as_view(), name="batch-excluded-judges"),
    path("batches/<int:batch_id>/export.csv", views.BatchExportCSVView.as_view(), name="batch-export-csv"),
    path("batches/<int:batch_id>/export.json", views.BatchExportJSONView.as_view(), name="batch-export-json"),
]
