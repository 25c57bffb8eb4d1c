"""URLs of the metrics view tests: the view routed as a project would route it."""

from django.urls import path

from django_dbq.metrics.views import metrics

urlpatterns = [path("metrics", metrics)]
