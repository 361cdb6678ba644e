module "iam" {
  source     = "../modules/iam"
  project_id = var.settings.project_id
  service_accounts = {
    (local._accounts.api_gateway) = {
      display_name  = "API gateway runtime"
      project_roles = ["roles/datastore.user", "roles/pubsub.publisher"]
      users         = [local._accounts.deployer, local._accounts.tf_apply]
    }
    (local._accounts.ml_service) = {
      display_name = "ML service runtime"
      project_roles = [
        "roles/aiplatform.user",
        "roles/datastore.user",
        "roles/pubsub.publisher",
        "roles/storage.objectViewer",
      ]
      users = [local._accounts.deployer, local._accounts.tf_apply]
    }
    (local._accounts.pubsub_push) = {
      display_name = "Pub/Sub push identity"
      description  = "Signs the OIDC token of push deliveries to the ML service."
      users        = [local._accounts.tf_apply]
    }
    (local._accounts.deployer) = {
      display_name = "Delivery pipeline"
      description  = "Rolls out revisions and shifts traffic from the protected branch."
      # logWriter: one Cloud Logging entry per rollout and rollback (modules/observability).
      # monitoring.viewer: canary analysis reads Cloud Run's request metrics (timeSeries.list).
      project_roles = ["roles/logging.logWriter", "roles/monitoring.viewer", "roles/run.developer"]
      # In CI the deployer is the caller of generateIdToken for its own probes' ID tokens.
      id_token_creators = [local._accounts.deployer]
    }
    (local._accounts.tf_apply) = {
      display_name = "Terraform apply"
      description  = "Applies this configuration from the protected branch."
      project_roles = [
        "roles/artifactregistry.admin",
        "roles/cloudkms.admin",
        "roles/datastore.owner",
        "roles/iam.serviceAccountAdmin",
        "roles/iam.workloadIdentityPoolAdmin",
        "roles/logging.configWriter",
        "roles/monitoring.editor",
        "roles/pubsub.admin",
        "roles/resourcemanager.projectIamAdmin",
        "roles/run.admin",
        "roles/secretmanager.admin",
        "roles/serviceusage.serviceUsageAdmin",
      ]
    }
    (local._accounts.tf_plan) = {
      display_name = "Terraform plan"
      description  = "Read-only identity for plans on pull requests."
      project_roles = [
        "roles/artifactregistry.reader",
        "roles/cloudkms.viewer",
        "roles/datastore.viewer",
        "roles/iam.securityReviewer",
        "roles/iam.serviceAccountViewer",
        "roles/iam.workloadIdentityPoolViewer",
        "roles/logging.viewer",
        "roles/monitoring.viewer",
        "roles/pubsub.viewer",
        "roles/run.viewer",
        "roles/secretmanager.viewer",
        "roles/serviceusage.serviceUsageViewer",
      ]
    }
  }
  depends_on = [google_project_service.api]
}
