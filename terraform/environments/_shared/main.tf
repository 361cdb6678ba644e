# The environment is the stack with this directory's settings.json; backend.tf says
# where its state lives. Nothing else here differs between environments.
module "stack" {
  source                   = "../../stack"
  alert_notification_email = var.alert_notification_email
  billing_account          = var.billing_account
  labels                   = local.labels
  settings                 = local.settings
}
