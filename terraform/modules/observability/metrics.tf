# Log-based metrics on the deployment entries the delivery library writes to Cloud Logging,
# one entry per rollout or rollback (the contract: terraform/README.md, "Deployment events").
locals {
  _log_filter = join(" AND ", [
    "logName=\"projects/${var.project_id}/logs/${local._deployment_log}\"",
    "jsonPayload.kind=(\"rollout\" OR \"rollback\")",
  ])
  # The entry's fields that become labels of every metric here.
  _labels = {
    environment = "The environment deployed to (dev, staging, prod)."
    kind        = "rollout, or rollback (a manual `rollback --to`)."
    outcome     = "succeeded, rolled_back, aborted, failed or conflict."
  }
  # Durations, in seconds: the design's targets are 10 minutes per deploy and 2 minutes to
  # roll back. Only entries that carry the field count.
  _durations = {
    deployment-duration = {
      description = "Wall time of each rollout and rollback (jsonPayload.duration_seconds)."
      field       = "duration_seconds"
    }
    time-to-rollback = {
      description = "From the first failed probe to traffic back on the stable revision (jsonPayload.time_to_rollback_seconds)."
      field       = "time_to_rollback_seconds"
    }
  }
}

resource "google_logging_metric" "deployments" {
  project          = var.project_id
  name             = local._deployment_metric
  description      = "Rollouts and rollbacks by environment, kind and outcome, one per deployment entry."
  filter           = local._log_filter
  label_extractors = { for key in keys(local._labels) : key => "EXTRACT(jsonPayload.${key})" }
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Clarity deployments"
    dynamic "labels" {
      for_each = local._labels
      content {
        key         = labels.key
        value_type  = "STRING"
        description = labels.value
      }
    }
  }
}

resource "google_logging_metric" "duration" {
  for_each         = local._durations
  project          = var.project_id
  name             = "clarity-${each.key}"
  description      = each.value.description
  filter           = "${local._log_filter} AND jsonPayload.${each.value.field}>0"
  label_extractors = { for key in keys(local._labels) : key => "EXTRACT(jsonPayload.${key})" }
  value_extractor  = "EXTRACT(jsonPayload.${each.value.field})"
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "s"
    display_name = "Clarity ${replace(each.key, "-", " ")}"
    dynamic "labels" {
      for_each = local._labels
      content {
        key         = labels.key
        value_type  = "STRING"
        description = labels.value
      }
    }
  }
  # 1 s to about 55 minutes in 20 buckets growing by half.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 20
      growth_factor      = 1.5
      scale              = 1
    }
  }
}
