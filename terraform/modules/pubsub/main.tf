locals {
  _subscriptions = merge([
    for topic_name, topic in var.topics : {
      for sub_name, sub in topic.subscriptions : sub_name => merge(sub, { topic = topic_name })
    }
  ]...)
  # Pushed subscriptions on the dead-letter topics, besides the pull one that keeps everything.
  _dead_letter_pushes = merge([
    for topic_name, topic in var.topics : {
      for sub_name, sub in topic.dead_letter_subscriptions : sub_name => merge(sub, { topic = topic_name })
    }
  ]...)
  # One dead-letter topic per source topic that has a dead-lettered subscription.
  _dead_letter_topics = toset([
    for sub in values(local._subscriptions) : sub.topic if sub.dead_letter
  ])
  pubsub_service_agent = "serviceAccount:service-${var.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_topic" "topic" {
  for_each                   = var.topics
  project                    = var.project_id
  name                       = each.key
  labels                     = merge(var.labels, each.value.labels)
  message_retention_duration = each.value.message_retention_duration
  kms_key_name               = var.kms_key_name

  dynamic "message_storage_policy" {
    for_each = length(var.message_storage_regions) == 0 ? [] : [var.message_storage_regions]
    content {
      allowed_persistence_regions = message_storage_policy.value
    }
  }
}

# A dead-lettered message is the same data as the original: same key, same regions.
resource "google_pubsub_topic" "dead_letter" {
  for_each     = local._dead_letter_topics
  project      = var.project_id
  name         = "${each.key}-dead-letter"
  labels       = merge(var.labels, { purpose = "dead-letter" })
  kms_key_name = var.kms_key_name

  dynamic "message_storage_policy" {
    for_each = length(var.message_storage_regions) == 0 ? [] : [var.message_storage_regions]
    content {
      allowed_persistence_regions = message_storage_policy.value
    }
  }
}

resource "google_pubsub_subscription" "subscription" {
  for_each                   = local._subscriptions
  project                    = var.project_id
  name                       = each.key
  topic                      = google_pubsub_topic.topic[each.value.topic].id
  labels                     = var.labels
  ack_deadline_seconds       = each.value.ack_deadline_seconds
  message_retention_duration = each.value.message_retention_duration

  expiration_policy {
    ttl = ""
  }
  retry_policy {
    minimum_backoff = each.value.retry_minimum_backoff
    maximum_backoff = each.value.retry_maximum_backoff
  }
  dynamic "dead_letter_policy" {
    for_each = each.value.dead_letter ? [""] : []
    content {
      dead_letter_topic     = google_pubsub_topic.dead_letter[each.value.topic].id
      max_delivery_attempts = each.value.max_delivery_attempts
    }
  }
  dynamic "push_config" {
    for_each = each.value.push_endpoint == null ? [] : [""]
    content {
      push_endpoint = each.value.push_endpoint
      oidc_token {
        service_account_email = var.push_service_account
        audience              = each.value.push_audience
      }
    }
  }
}

resource "google_pubsub_subscription" "dead_letter" {
  for_each                   = local._dead_letter_topics
  project                    = var.project_id
  name                       = "${each.key}-dead-letter"
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  labels                     = merge(var.labels, { purpose = "dead-letter" })
  ack_deadline_seconds       = 60
  message_retention_duration = var.dead_letter_retention
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }
}

# Not dead-lettered itself: a failed push is retried with backoff for dead_letter_retention, and
# the pull subscription above keeps the message whatever happens here.
resource "google_pubsub_subscription" "dead_letter_push" {
  for_each                   = local._dead_letter_pushes
  project                    = var.project_id
  name                       = each.key
  topic                      = google_pubsub_topic.dead_letter[each.value.topic].id
  labels                     = merge(var.labels, { purpose = "dead-letter" })
  ack_deadline_seconds       = each.value.ack_deadline_seconds
  message_retention_duration = var.dead_letter_retention

  expiration_policy {
    ttl = ""
  }
  retry_policy {
    minimum_backoff = each.value.retry_minimum_backoff
    maximum_backoff = each.value.retry_maximum_backoff
  }
  push_config {
    push_endpoint = each.value.push_endpoint
    oidc_token {
      service_account_email = var.push_service_account
      audience              = each.value.push_audience
    }
  }
}
