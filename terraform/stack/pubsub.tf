module "pubsub" {
  source               = "../modules/pubsub"
  project_id           = var.settings.project_id
  project_number       = data.google_project.project.number
  labels               = var.labels
  push_service_account = module.iam.emails[local._accounts.pubsub_push]
  kms_key_name         = local._kms_keys["pubsub"]
  # Messages carry health data: Pub/Sub keeps them in the environment's region.
  message_storage_regions = [var.settings.region]
  # Pub/Sub keeps unacknowledged messages for at most 31 days.
  dead_letter_retention = "${min(var.settings.retention_days, 31) * 86400}s"
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
  depends_on = [google_project_service.api, module.iam, module.kms]
}
