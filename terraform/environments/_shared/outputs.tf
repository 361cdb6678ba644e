output "artifact_registry_url" {
  description = "Image path prefix the delivery pipeline pushes to."
  value       = module.stack.artifact_registry_url
}

output "service_accounts" {
  description = "Service account emails by account id: deployer, runtime accounts, Terraform identities."
  value       = module.stack.service_accounts
}

output "services" {
  description = "Cloud Run service URLs, by settings.json service key."
  value       = module.stack.services
}

output "topics" {
  description = "Pub/Sub topic ids, by topic name."
  value       = module.stack.topics
}

output "workload_identity_provider" {
  description = "Provider name for google-github-actions/auth `workload_identity_provider`."
  value       = module.stack.workload_identity_provider
}
