"""The objects that serve a deployment's requests, one deployment at a time, from its
`DeploymentRelease`: the workload, its weights, its autoscaling and the routes to it.

    workload.py        the Deployment, its Service and PDB; the namespace's NetworkPolicy
    weights.py         weights downloaded once by an init container, and where they are cached
    scaling.py         a KEDA ScaledObject per deployment; the HTTP add-on's InterceptorRoute
    routes.py          HTTPRoutes with Baseten's paths on the model's host; ReferenceGrants
    route_backends.py  who an environment's requests go to, read back from its HTTPRoutes
"""
