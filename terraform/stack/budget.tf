module "budget" {
  source                = "../modules/budget"
  billing_account       = var.billing_account
  display_name          = "clarity-loop ${var.settings.environment}"
  project_number        = data.google_project.project.number
  amount_usd            = var.settings.budget.amount_usd
  thresholds            = var.settings.budget.thresholds
  notification_channels = [for m in module.monitoring : m.notification_channel]
  depends_on            = [google_project_service.api]
}
