output "dead_letter_push_subscriptions" {
  description = "Pushed subscription ids on the dead-letter topics, by subscription name."
  value       = { for k, v in google_pubsub_subscription.dead_letter_push : k => v.id }
}

output "dead_letter_subscriptions" {
  description = "Subscription ids on the dead-letter topics, by source topic name."
  value       = { for k, v in google_pubsub_subscription.dead_letter : k => v.id }
}

output "dead_letter_topics" {
  description = "Dead-letter topic ids, by source topic name."
  value       = { for k, v in google_pubsub_topic.dead_letter : k => v.id }
}

output "subscriptions" {
  description = "Subscription ids, by subscription name."
  value       = { for k, v in google_pubsub_subscription.subscription : k => v.id }
}

output "topics" {
  description = "Topic ids, by topic name."
  value       = { for k, v in google_pubsub_topic.topic : k => v.id }
}
