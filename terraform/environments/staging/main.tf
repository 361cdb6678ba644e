# Identical in every environment: what differs lives in settings.json and backend.tf.

locals {
  _services = local.settings.services
  _accounts = {
    api_gateway = local._services["api-gateway"].name
    deployer    = "clarity-deployer"
    ml_service  = local._services["ml-service"].name
    pubsub_push = "clarity-pubsub-push"
    tf_apply    = "clarity-terraform-apply"
    tf_plan     = "clarity-terraform-plan"
  }
  # Emails are derived from the account ids so they are known at plan time; the
  # modules that grant roles to them depend on module.iam for ordering.
  _members = {
    for key, account_id in local._accounts : key => "serviceAccount:${account_id}@${local.settings.project_id}.iam.gserviceaccount.com"
  }
  _common_env = {
    ENVIRONMENT          = local.settings.environment
    GOOGLE_CLOUD_PROJECT = local.settings.project_id
  }
  _public_invokers = local.settings.allow_unauthenticated ? { public = "allUsers" } : {}
  # Uptime checks authenticate to the private services as the monitoring agent.
  _uptime_check_agent = "serviceAccount:service-${data.google_project.project.number}@gcp-sa-monitoring-notification.iam.gserviceaccount.com"
  _services_apis = [
    "artifactregistry.googleapis.com",
    "billingbudgets.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "sts.googleapis.com",
  ]
}

data "google_project" "project" {
  project_id = local.settings.project_id
}

resource "google_project_service" "api" {
  for_each           = toset(local._services_apis)
  project            = local.settings.project_id
  service            = each.value
  disable_on_destroy = false
}

module "iam" {
  source     = "../../modules/iam"
  project_id = local.settings.project_id
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
      display_name  = "Delivery pipeline"
      description   = "Rolls out revisions and shifts traffic from the protected branch."
      project_roles = ["roles/run.developer"]
    }
    (local._accounts.tf_apply) = {
      display_name = "Terraform apply"
      description  = "Applies this configuration from the protected branch."
      project_roles = [
        "roles/artifactregistry.admin",
        "roles/datastore.owner",
        "roles/iam.serviceAccountAdmin",
        "roles/iam.workloadIdentityPoolAdmin",
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
        "roles/datastore.viewer",
        "roles/iam.securityReviewer",
        "roles/iam.serviceAccountViewer",
        "roles/iam.workloadIdentityPoolViewer",
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

module "secrets" {
  source     = "../../modules/secrets"
  project_id = local.settings.project_id
  labels     = local.labels
  secrets = {
    gemini-api-key = {
      accessors = { ml-service = local._members.ml_service }
    }
  }
  depends_on = [google_project_service.api, module.iam]
}

module "artifact_registry" {
  source        = "../../modules/artifact-registry"
  project_id    = local.settings.project_id
  location      = local.settings.region
  repository_id = local.settings.artifact_registry.repository
  labels        = local.labels
  cleanup = {
    delete_untagged_after_days = local.settings.artifact_registry.delete_untagged_after_days
    keep_recent_versions       = local.settings.artifact_registry.keep_recent_versions
  }
  writers    = { deployer = local._members.deployer }
  depends_on = [google_project_service.api, module.iam]
}

module "firestore" {
  source                 = "../../modules/firestore"
  project_id             = local.settings.project_id
  location               = local.settings.region
  delete_protection      = local.settings.deletion_protection
  point_in_time_recovery = local.settings.backup_enabled
  # Firestore keeps daily backups for at most 14 weeks.
  backup_retention_days = local.settings.backup_enabled ? min(local.settings.retention_days, 98) : null
  indexes = {
    users-email-created-at = {
      collection = "users"
      fields = [
        { field_path = "email" },
        { field_path = "created_at", order = "DESCENDING" },
      ]
    }
    health-data-user-timestamp-type = {
      collection = "health_data"
      fields = [
        { field_path = "user_id" },
        { field_path = "timestamp", order = "DESCENDING" },
        { field_path = "data_type" },
      ]
    }
  }
  depends_on = [google_project_service.api]
}

module "ml_service" {
  source                = "../../modules/cloud-run-service"
  project_id            = local.settings.project_id
  location              = local.settings.region
  name                  = local._services["ml-service"].name
  service_account       = module.iam.emails[local._accounts.ml_service]
  deletion_protection   = local.settings.deletion_protection
  allow_unauthenticated = local.settings.allow_unauthenticated
  labels                = local.labels
  container = {
    cpu    = local._services["ml-service"].cpu
    memory = local._services["ml-service"].memory
    env    = local._common_env
    secret_env = {
      GEMINI_API_KEY = { secret = module.secrets.names["gemini-api-key"] }
    }
  }
  scaling = {
    concurrency   = local._services["ml-service"].concurrency
    max_instances = local._services["ml-service"].max_instances
    min_instances = local._services["ml-service"].min_instances
  }
  invokers = merge(local._public_invokers, {
    api-gateway   = local._members.api_gateway
    deployer      = local._members.deployer
    pubsub-push   = local._members.pubsub_push
    uptime-checks = local._uptime_check_agent
  })
}

module "api_gateway" {
  source                = "../../modules/cloud-run-service"
  project_id            = local.settings.project_id
  location              = local.settings.region
  name                  = local._services["api-gateway"].name
  service_account       = module.iam.emails[local._accounts.api_gateway]
  deletion_protection   = local.settings.deletion_protection
  allow_unauthenticated = local.settings.allow_unauthenticated
  labels                = local.labels
  container = {
    cpu    = local._services["api-gateway"].cpu
    memory = local._services["api-gateway"].memory
    env = merge(local._common_env, {
      ML_SERVICE_URL = module.ml_service.uri
    })
  }
  scaling = {
    concurrency   = local._services["api-gateway"].concurrency
    max_instances = local._services["api-gateway"].max_instances
    min_instances = local._services["api-gateway"].min_instances
  }
  invokers = merge(local._public_invokers, {
    deployer      = local._members.deployer
    uptime-checks = local._uptime_check_agent
  })
}

module "pubsub" {
  source               = "../../modules/pubsub"
  project_id           = local.settings.project_id
  project_number       = data.google_project.project.number
  labels               = local.labels
  push_service_account = module.iam.emails[local._accounts.pubsub_push]
  # Pub/Sub keeps unacknowledged messages for at most 31 days.
  dead_letter_retention = "${min(local.settings.retention_days, 31) * 86400}s"
  topics = {
    healthkit-data-ingestion = {
      subscriptions = {
        # Pulled: the backend has no consumer of raw ingestion batches yet (see the README).
        healthkit-data-ingestion-ml = {
          subscribers = { ml-service = local._members.ml_service }
        }
      }
    }
    ml-processing-requests = {
      subscriptions = {
        ml-processing-requests-ml = {
          push_endpoint = "${module.ml_service.uri}/v1/pubsub/ml-processing-requests"
        }
      }
    }
    insight-generation = {
      subscriptions = {
        insight-generation-gateway = {
          subscribers = { api-gateway = local._members.api_gateway }
        }
      }
    }
  }
  depends_on = [google_project_service.api, module.iam]
}

module "github_oidc" {
  source     = "../../modules/github-oidc"
  project_id = local.settings.project_id
  github = {
    owner_id      = local.settings.github.owner_id
    repository    = local.settings.github.repository
    repository_id = local.settings.github.repository_id
  }
  identities = {
    deployer = {
      ref             = local.settings.github.apply_ref
      service_account = module.iam.ids[local._accounts.deployer]
    }
    terraform-apply = {
      ref             = local.settings.github.apply_ref
      service_account = module.iam.ids[local._accounts.tf_apply]
    }
    terraform-plan = {
      service_account = module.iam.ids[local._accounts.tf_plan]
    }
  }
  depends_on = [google_project_service.api]
}

module "monitoring" {
  source             = "../../modules/monitoring"
  count              = local.settings.monitoring_enabled ? 1 : 0
  project_id         = local.settings.project_id
  notification_email = var.alert_notification_email
  services = {
    for key, service in local._services : key => {
      location = local.settings.region
      name     = service.name
    }
  }
  depends_on = [google_project_service.api, module.api_gateway, module.ml_service]
}

module "budget" {
  source                = "../../modules/budget"
  billing_account       = var.billing_account
  display_name          = "clarity-loop ${local.settings.environment}"
  project_number        = data.google_project.project.number
  amount_usd            = local.settings.budget.amount_usd
  thresholds            = local.settings.budget.thresholds
  notification_channels = [for m in module.monitoring : m.notification_channel]
  depends_on            = [google_project_service.api]
}
