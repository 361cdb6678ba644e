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
    # The data flow (README, "The backend"): each stored batch is pushed to the ML service,
    # which writes its insight and announces it on insight-generation. What cannot be delivered
    # is dead-lettered: kept on the dead-letter topic's pull subscription, and pushed to the
    # gateway, which marks the batch failed.
    healthkit-data-ingestion = {
      subscriptions = {
        healthkit-data-ingestion-ml = {
          push_endpoint = "${module.ml_service.uri}/v1/pubsub/healthkit-data-ingestion"
          push_audience = module.ml_service.uri
        }
      }
      dead_letter_subscriptions = {
        healthkit-data-ingestion-dead-letter-gateway = {
          push_endpoint = "${module.api_gateway.uri}/v1/pubsub/ingestion-dead-letters"
          push_audience = module.api_gateway.uri
        }
      }
    }
    # Requests to analyse a stored batch again (a dead-lettered one, once its cause is fixed).
    ml-processing-requests = {
      subscriptions = {
        ml-processing-requests-ml = {
          push_endpoint = "${module.ml_service.uri}/v1/pubsub/ml-processing-requests"
          push_audience = module.ml_service.uri
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
