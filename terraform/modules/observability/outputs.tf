output "dashboard" {
  description = "Id of the environment's dashboard."
  value       = google_monitoring_dashboard.overview.id
}

output "deployment_log" {
  description = "Log name the delivery library writes its deployment entries to (projects/PROJECT/logs/NAME)."
  value       = "projects/${var.project_id}/logs/${local._deployment_log}"
}

output "deployment_metrics" {
  description = "Metric types of the log-based metrics: deployments (a count by environment, kind and outcome), deployment_duration and time_to_rollback (distributions, seconds)."
  value = merge(
    { deployments = "logging.googleapis.com/user/${local._deployment_metric}" },
    { for key in keys(local._durations) : replace(key, "-", "_") => "logging.googleapis.com/user/clarity-${key}" },
  )
}
