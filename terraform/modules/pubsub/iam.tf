# The Pub/Sub service agent forwards undeliverable messages: it must publish to
# the dead-letter topic and acknowledge on the source subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = local._dead_letter_topics
  project  = var.project_id
  topic    = google_pubsub_topic.dead_letter[each.key].name
  role     = "roles/pubsub.publisher"
  member   = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each     = { for name, sub in local._subscriptions : name => sub if sub.dead_letter }
  project      = var.project_id
  subscription = google_pubsub_subscription.subscription[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# The service agent mints the OIDC token that push deliveries carry.
resource "google_service_account_iam_member" "push_token_creator" {
  count              = var.push_service_account == null ? 0 : 1
  service_account_id = "projects/${var.project_id}/serviceAccounts/${var.push_service_account}"
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "subscriber" {
  for_each = merge([
    for name, sub in local._subscriptions : {
      for key, member in sub.subscribers : "${name} ${key}" => { subscription = name, member = member }
    }
  ]...)
  project      = var.project_id
  subscription = google_pubsub_subscription.subscription[each.value.subscription].name
  role         = "roles/pubsub.subscriber"
  member       = each.value.member
}
