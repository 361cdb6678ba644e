resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = var.invokers
  project  = google_cloud_run_v2_service.service.project
  location = google_cloud_run_v2_service.service.location
  name     = google_cloud_run_v2_service.service.name
  role     = "roles/run.invoker"
  member   = each.value
}
