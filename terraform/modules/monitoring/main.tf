locals {
  _run_filter = {
    for key, service in var.services : key => join(" AND ", [
      "resource.type = \"cloud_run_revision\"",
      "resource.labels.service_name = \"${service.name}\"",
    ])
  }
}

resource "google_monitoring_notification_channel" "email" {
  project      = var.project_id
  display_name = "Clarity Loop alerts"
  type         = "email"
  labels = {
    email_address = var.notification_email
  }
}

# The checks call the private services with an OIDC token minted by the
# monitoring service agent, which the environment grants roles/run.invoker.
resource "google_monitoring_uptime_check_config" "health" {
  for_each     = var.services
  project      = var.project_id
  display_name = "${each.value.name} ${var.alerts.health_path}"
  period       = var.alerts.uptime_period
  timeout      = var.alerts.uptime_timeout
  monitored_resource {
    type = "cloud_run_revision"
    labels = {
      project_id   = var.project_id
      location     = each.value.location
      service_name = each.value.name
    }
  }
  http_check {
    path         = var.alerts.health_path
    port         = 443
    use_ssl      = true
    validate_ssl = true
    accepted_response_status_codes {
      status_class = "STATUS_CLASS_2XX"
    }
    service_agent_authentication {
      type = "OIDC_TOKEN"
    }
  }
}

resource "google_monitoring_alert_policy" "error_ratio" {
  for_each              = var.services
  project               = var.project_id
  display_name          = "${each.value.name}: 5xx ratio above ${var.alerts.error_ratio * 100} %"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]
  conditions {
    display_name = "5xx / all requests"
    condition_threshold {
      filter             = "${local._run_filter[each.key]} AND metric.type = \"run.googleapis.com/request_count\" AND metric.labels.response_code_class = \"5xx\""
      denominator_filter = "${local._run_filter[each.key]} AND metric.type = \"run.googleapis.com/request_count\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.alerts.error_ratio
      duration           = var.alerts.duration
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }
      denominator_aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }
}

resource "google_monitoring_alert_policy" "latency_p99" {
  for_each              = var.services
  project               = var.project_id
  display_name          = "${each.value.name}: p99 latency above ${var.alerts.latency_p99_ms} ms"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]
  conditions {
    display_name = "p99 request latency"
    condition_threshold {
      filter          = "${local._run_filter[each.key]} AND metric.type = \"run.googleapis.com/request_latencies\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alerts.latency_p99_ms
      duration        = var.alerts.duration
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_PERCENTILE_99"
        cross_series_reducer = "REDUCE_MAX"
      }
    }
  }
}
