# The names the delivery library and the dashboard rely on: the log the library writes its
# deployment entries to, and the counter metric on them. They are fixed, not inputs, so the
# contract cannot drift between environments.
locals {
  _deployment_log    = "clarity-deployments"
  _deployment_metric = "clarity-deployments"
}
