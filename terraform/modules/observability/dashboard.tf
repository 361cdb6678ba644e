# The environment's dashboard. Its JSON is kept as a file (dashboard.json, the format the
# console exports); only the title differs between environments, so that is all that is
# templated: each environment is its own project, and the charts select by metric and
# resource type, grouped by service, revision or subscription.
resource "google_monitoring_dashboard" "overview" {
  project = var.project_id
  dashboard_json = jsonencode(merge(
    jsondecode(file("${path.module}/dashboard.json")),
    { displayName = "Clarity Loop (${var.environment})" },
  ))
  # The deployment charts read these metrics; create them first.
  depends_on = [google_logging_metric.deployments, google_logging_metric.duration]
}
