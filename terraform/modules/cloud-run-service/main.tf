resource "google_cloud_run_v2_service" "service" {
  project             = var.project_id
  location            = var.location
  name                = var.name
  ingress             = var.ingress
  labels              = var.labels
  deletion_protection = var.deletion_protection

  template {
    service_account                  = var.service_account
    timeout                          = var.timeout
    max_instance_request_concurrency = var.scaling.concurrency
    scaling {
      min_instance_count = var.scaling.min_instances
      max_instance_count = var.scaling.max_instances
    }
    containers {
      image = var.container.image
      ports {
        container_port = var.container.port
      }
      resources {
        limits = {
          cpu    = var.container.cpu
          memory = var.container.memory
        }
        cpu_idle          = var.container.cpu_idle
        startup_cpu_boost = var.container.startup_cpu_boost
      }
      startup_probe {
        initial_delay_seconds = var.probes.startup.initial_delay_seconds
        period_seconds        = var.probes.startup.period_seconds
        timeout_seconds       = var.probes.startup.timeout_seconds
        failure_threshold     = var.probes.startup.failure_threshold
        http_get {
          path = var.probes.path
          port = var.container.port
        }
      }
      liveness_probe {
        period_seconds    = var.probes.liveness.period_seconds
        timeout_seconds   = var.probes.liveness.timeout_seconds
        failure_threshold = var.probes.liveness.failure_threshold
        http_get {
          path = var.probes.path
          port = var.container.port
        }
      }
      dynamic "env" {
        for_each = var.container.env
        content {
          name  = env.key
          value = env.value
        }
      }
      dynamic "env" {
        for_each = var.container.secret_env
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value.secret
              version = env.value.version
            }
          }
        }
      }
    }
  }

  lifecycle {
    # The delivery pipeline owns what a rollout changes: the image, the revision
    # name, the traffic split, the client stamp, and the `clarity-` labels and
    # `clarity.dev/` annotations it writes on the revision template. Ignoring them
    # keeps `terraform apply` from reverting or re-routing a rollout. Top-level
    # labels need no entry: the provider manages only the keys set here.
    ignore_changes = [
      annotations,
      client,
      client_version,
      template[0].annotations,
      template[0].containers[0].image,
      template[0].labels,
      template[0].revision,
      traffic,
    ]
  }
}
