output "alert_policies" {
  description = "Alert policy ids, by service key and kind (error_ratio, latency_p99)."
  value = {
    for key in keys(var.services) : key => {
      error_ratio = google_monitoring_alert_policy.error_ratio[key].id
      latency_p99 = google_monitoring_alert_policy.latency_p99[key].id
    }
  }
}

output "deployment_alert_policies" {
  description = "Alert policy ids on deployment entries: rollout_failed (rolled back, aborted or failed) and rollback_failed."
  value       = { for key, policy in google_monitoring_alert_policy.deployment : key => policy.id }
}

output "notification_channel" {
  description = "Id of the email notification channel."
  value       = google_monitoring_notification_channel.email.id
}

output "uptime_checks" {
  description = "Uptime check ids, by service key."
  value       = { for k, v in google_monitoring_uptime_check_config.health : k => v.uptime_check_id }
}
