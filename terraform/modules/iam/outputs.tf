output "emails" {
  description = "Service account emails, by account id."
  # Built from the account id so it is known at plan time; iterating the resource
  # keeps the dependency on the account's creation.
  value = { for k, v in google_service_account.account : k => "${k}@${var.project_id}.iam.gserviceaccount.com" }
}

output "ids" {
  description = "Fully qualified service account names (projects/P/serviceAccounts/EMAIL), by account id."
  value       = { for k, v in google_service_account.account : k => "projects/${var.project_id}/serviceAccounts/${k}@${var.project_id}.iam.gserviceaccount.com" }
}

output "members" {
  description = "IAM members (serviceAccount:EMAIL), by account id."
  value       = { for k, v in google_service_account.account : k => "serviceAccount:${k}@${var.project_id}.iam.gserviceaccount.com" }
}
