# Alerts on the delivery library's deployment entries, through the counter metric on them
# (modules/observability): a rollout that was rolled back, aborted or failed, and, worse, a
# rollback that failed, which leaves traffic where the library could not restore it.
locals {
  _deployment_filter = "metric.type = \"${var.deployment_metric}\" AND resource.type = \"global\""
  _deployment_alerts = {
    rollout_failed = {
      display_name = "Deployment rolled back or failed"
      condition    = "metric.label.kind = \"rollout\" AND metric.label.outcome = one_of(\"rolled_back\", \"aborted\", \"failed\")"
      severity     = "ERROR"
      what_to_do   = "The release did not reach 100 %. Traffic is back on the previous stable revision unless the outcome is `failed` and the entry's `error` says otherwise. See the rollout summary of the CD run, `clarity-deploy report --env ENV`, and the entry in Logs Explorer (log `clarity-deployments`)."
    }
    rollback_failed = {
      display_name = "Rollback failed"
      condition    = "metric.label.kind = \"rollback\" AND metric.label.outcome = \"failed\""
      severity     = "CRITICAL"
      what_to_do   = "A manual rollback could not restore a version: traffic may still be on the release being rolled back. The entry's `error` names the service; restore by hand with `scripts/rollback.sh ENV VERSION` or `gcloud run services update-traffic`, then check `clarity-deploy status --env ENV`."
    }
  }
}

resource "google_monitoring_alert_policy" "deployment" {
  for_each              = local._deployment_alerts
  project               = var.project_id
  display_name          = each.value.display_name
  combiner              = "OR"
  severity              = each.value.severity
  notification_channels = [google_monitoring_notification_channel.email.id]
  conditions {
    display_name = each.value.display_name
    condition_threshold {
      filter          = "${local._deployment_filter} AND ${each.value.condition}"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      # One entry is enough: fire at once.
      duration = "0s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.environment", "metric.label.outcome"]
      }
      trigger {
        count = 1
      }
    }
  }
  # A deployment event is a point in time: close the incident once no new one arrives.
  alert_strategy {
    auto_close = "1800s"
  }
  documentation {
    mime_type = "text/markdown"
    content   = each.value.what_to_do
  }
}
