# Before the stack module, these objects sat at the top of every environment root.
# Each block hands an existing object's state to its new address, so the first plan
# after the change shows moves only: nothing is destroyed or created. Terraform
# evaluates a moved block in the module that declares it, so they live here and not
# in the stack. They can go once every environment has applied this change
# (tests/terraform/test_moved.py replays them).

moved {
  from = google_project_service.api
  to   = module.stack.google_project_service.api
}

moved {
  from = module.api_gateway
  to   = module.stack.module.api_gateway
}

moved {
  from = module.artifact_registry
  to   = module.stack.module.artifact_registry
}

moved {
  from = module.budget
  to   = module.stack.module.budget
}

moved {
  from = module.firestore
  to   = module.stack.module.firestore
}

moved {
  from = module.github_oidc
  to   = module.stack.module.github_oidc
}

moved {
  from = module.iam
  to   = module.stack.module.iam
}

moved {
  from = module.ml_service
  to   = module.stack.module.ml_service
}

moved {
  from = module.monitoring
  to   = module.stack.module.monitoring
}

moved {
  from = module.pubsub
  to   = module.stack.module.pubsub
}

moved {
  from = module.secrets
  to   = module.stack.module.secrets
}
