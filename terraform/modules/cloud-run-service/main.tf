locals {
  # The revision template this configuration wants, in the Admin API's JSON. Terraform
  # writes the template block below once, when it creates the service; after that the
  # delivery pipeline is the template's only writer and builds every candidate from this
  # annotation, so a change here reaches traffic through a rollout and its analysis, never
  # as a direct switch (terraform/README.md, "Who owns what"). Keep it equal to the block.
  _template = {
    serviceAccount                = var.service_account
    timeout                       = var.timeout
    maxInstanceRequestConcurrency = var.scaling.concurrency
    scaling                       = { maxInstanceCount = var.scaling.max_instances }
    containers = [{
      image = var.container.image
      ports = [{ containerPort = var.container.port }]
      resources = {
        limits          = { cpu = var.container.cpu, memory = var.container.memory }
        cpuIdle         = var.container.cpu_idle
        startupCpuBoost = var.container.startup_cpu_boost
      }
      startupProbe = {
        initialDelaySeconds = var.probes.startup.initial_delay_seconds
        periodSeconds       = var.probes.startup.period_seconds
        timeoutSeconds      = var.probes.startup.timeout_seconds
        failureThreshold    = var.probes.startup.failure_threshold
        httpGet             = { path = var.probes.path, port = var.container.port }
      }
      livenessProbe = {
        periodSeconds    = var.probes.liveness.period_seconds
        timeoutSeconds   = var.probes.liveness.timeout_seconds
        failureThreshold = var.probes.liveness.failure_threshold
        httpGet          = { path = var.probes.path, port = var.container.port }
      }
      env = concat(
        [for name, value in var.container.env : { name = name, value = value }],
        [
          for name, ref in var.container.secret_env : {
            name        = name
            valueSource = { secretKeyRef = { secret = ref.secret, version = ref.version } }
          }
        ],
      )
    }]
  }
}

resource "google_cloud_run_v2_service" "service" {
  project             = var.project_id
  location            = var.location
  name                = var.name
  ingress             = var.ingress
  labels              = var.labels
  deletion_protection = var.deletion_protection
  custom_audiences    = var.custom_audiences
  annotations = {
    "clarity.dev/template" = jsonencode(local._template)
  }

  # Service-level minimum: kept warm on the revisions that serve traffic, in proportion to
  # their share, and on no revision held at 0 % for a switch back (a revision-level minimum
  # would keep instances warm on every tagged revision).
  scaling {
    min_instance_count = var.scaling.min_instances
  }

  template {
    service_account                  = var.service_account
    timeout                          = var.timeout
    max_instance_request_concurrency = var.scaling.concurrency
    scaling {
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
    # The delivery pipeline owns what rollouts write (terraform/README.md, "Who owns
    # what"): the live template and its revisions (Terraform's wishes for it are the
    # clarity.dev/template annotation), the traffic split, the client stamp, and the
    # service annotations that hold a rollout's state, history and records. Ignoring
    # them is what keeps `terraform apply` from reverting a rollout or reusing a live
    # revision's name for a different template (409). Labels and annotations are
    # non-authoritative in the provider (only the keys set here are managed); the
    # pipeline's keys are listed anyway, so the contract reads in one place.
    ignore_changes = [
      annotations["clarity.dev/history"],
      annotations["clarity.dev/ledger"],
      annotations["clarity.dev/rollout"],
      client,
      client_version,
      template,
      traffic,
    ]
  }
}
