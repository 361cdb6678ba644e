output "artifact_registry_url" {
  description = "Image path prefix the delivery pipeline pushes to."
  value       = module.artifact_registry.url
}

output "service_accounts" {
  description = "Service account emails by account id: deployer, runtime accounts, Terraform identities."
  value       = module.iam.emails
}

output "services" {
  description = "Cloud Run service URLs, by settings.json service key."
  value = {
    api-gateway = module.api_gateway.uri
    ml-service  = module.ml_service.uri
  }
}

output "topics" {
  description = "Pub/Sub topic ids, by topic name."
  value       = module.pubsub.topics
}

output "workload_identity_provider" {
  description = "Provider name for google-github-actions/auth `workload_identity_provider`."
  value       = module.github_oidc.provider_name
}
