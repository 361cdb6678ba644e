locals {
  # The single source of per-environment values, shared with the delivery library.
  settings = jsondecode(file("${path.module}/settings.json"))
  labels = {
    application = "clarity-loop"
    environment = local.settings.environment
    managed-by  = "terraform"
  }
}
