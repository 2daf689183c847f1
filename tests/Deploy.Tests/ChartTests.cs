using System.Text.Json;

namespace Dispatcher.Deploy.Tests;

public sealed class ChartTests
{
    public static TheoryData<string> ValuesFiles => ["", "two-models-gpu-pvc.yaml", "external-db.yaml", "everything.yaml"];

    private static string[] Files(string example) => example.Length == 0 ? [] : [Chart.Example(example)];

    [Theory]
    [MemberData(nameof(ValuesFiles))]
    public async Task Chart_EachValuesFile_LintsAndRendersValidKubernetesObjects(string example)
    {
        var lint = await Chart.LintAsync(Files(example));
        Assert.True(lint.GetProperty("ok").GetBoolean(), lint.ToString());

        var rendered = await Chart.TemplateAsync(Files(example));

        Assert.True(rendered.GetProperty("ok").GetBoolean(), rendered.ToString());
        Assert.Empty(rendered.GetProperty("errors").EnumerateArray());
        Assert.NotEmpty(rendered.Objects("Deployment"));
    }

    [Fact]
    public async Task Models_EachModelGetsOneGpuDeploymentWithItsReplicasAndVllmArguments()
    {
        var rendered = await Chart.TemplateAsync(Chart.Example("two-models-gpu-pvc.yaml"));
        var vllm = rendered.Objects("Deployment").Where(d => Component(d) == "vllm").ToList();

        Assert.Equal(2, vllm.Count); // one per model
        var big = vllm.Single(d => d.Name().EndsWith("-vllm-llama-3-1-70b", StringComparison.Ordinal));
        Assert.Equal(2, big.GetProperty("spec").GetProperty("replicas").GetInt32()); // its replicaCount
        Assert.Equal(0, big.GetProperty("spec").GetProperty("strategy").GetProperty("rollingUpdate").GetProperty("maxSurge").GetInt32());
        var pod = big.GetProperty("spec").GetProperty("template").GetProperty("spec");
        var container = pod.GetProperty("containers")[0];
        var args = container.GetProperty("args").EnumerateArray().Select(a => a.GetString()).ToList();
        Assert.Contains("--model=meta-llama/Llama-3.1-70B-Instruct", args);
        Assert.Contains("--served-model-name=llama-3.1-70b", args);
        Assert.Contains("--quantization=fp8", args);
        Assert.Contains("--dtype=bfloat16", args);
        Assert.Contains("--gpu-memory-utilization=0.92", args);
        Assert.Contains("--max-model-len=32768", args);
        Assert.Contains("--tensor-parallel-size=4", args);
        Assert.Contains("--rope-scaling={\"rope_type\":\"dynamic\",\"factor\":2.0}", args);
        Assert.Contains("--rope-theta=500000", args);
        Assert.Contains("--enable-prefix-caching", args);
        Assert.Equal(4, container.GetProperty("resources").GetProperty("limits").GetProperty("nvidia.com/gpu").GetInt32());
        Assert.Equal("/health", container.GetProperty("readinessProbe").GetProperty("httpGet").GetProperty("path").GetString());
        Assert.Equal("true", pod.GetProperty("nodeSelector").GetProperty("nvidia.com/gpu.present").GetString());
        Assert.Equal("nvidia.com/gpu", pod.GetProperty("tolerations")[0].GetProperty("key").GetString());
        var volumes = pod.GetProperty("volumes").EnumerateArray().ToList();
        Assert.Contains(volumes, v => v.TryGetProperty("persistentVolumeClaim", out _));
        Assert.Contains(volumes, v => v.TryGetProperty("emptyDir", out var dir) && dir.TryGetProperty("medium", out var medium) && medium.GetString() == "Memory");
        Assert.Equal("HUGGING_FACE_HUB_TOKEN", container.GetProperty("env").EnumerateArray().Single(e => e.TryGetProperty("valueFrom", out _)).GetProperty("name").GetString());

        // A stopping replica drains: its preStop hook waits for vLLM's requests, within the grace period.
        Assert.Equal("python3", container.GetProperty("lifecycle").GetProperty("preStop").GetProperty("exec").GetProperty("command")[0].GetString());
        Assert.Equal(600 + 30, pod.GetProperty("terminationGracePeriodSeconds").GetInt32());

        // One model cache per model; the one two replicas share must be ReadWriteMany.
        var claims = rendered.Objects("PersistentVolumeClaim").ToDictionary(c => c.Name(), c => c.GetProperty("spec").GetProperty("accessModes")[0].GetString());
        Assert.Equal(2, claims.Count);
        Assert.Equal("ReadWriteMany", claims[big.Name()]);
    }

    [Fact]
    public async Task Models_SharedReadWriteOnceModelCache_RefusedWithAClearError()
    {
        var rendered = await Chart.TemplateWithAsync("models:\n  - name: m\n    model: org/m\n    replicaCount: 2\n    pvc:\n      enabled: true\n");

        Assert.False(rendered.GetProperty("ok").GetBoolean());
        Assert.Contains("set pvc.accessMode: ReadWriteMany", rendered.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dispatcher_FindsEachModelsReplicasThroughItsVllmService()
    {
        var rendered = await Chart.TemplateAsync(Chart.Example("two-models-gpu-pvc.yaml"));
        var services = rendered.Objects("Service").Where(s => s.Name().Contains("-vllm-", StringComparison.Ordinal)).ToDictionary(s => s.Name());
        var discovered = Models(rendered).ToDictionary(m => m.GetProperty("Name").GetString()!, m => m.GetProperty("Discovery"));

        Assert.Equal(["llama-3.1-70b", "qwen2.5-coder-7b"], discovered.Keys.Order());
        Assert.Equal(services.Keys.Order(), discovered.Values.Select(d => d.GetProperty("Service").GetString()).Order());
        Assert.All(discovered.Values, d => Assert.Equal("http", d.GetProperty("Port").GetString()));
        foreach (var deployment in rendered.Objects("Deployment").Where(d => Component(d) == "vllm"))
        {
            // The Service selects exactly its model's pods, on the port named in the settings.
            var selector = services[deployment.Name()].GetProperty("spec").GetProperty("selector");
            var labels = deployment.GetProperty("spec").GetProperty("template").GetProperty("metadata").GetProperty("labels");
            Assert.All(selector.EnumerateObject(), l => Assert.Equal(l.Value.GetString(), labels.GetProperty(l.Name).GetString()));
            Assert.Equal("http", services[deployment.Name()].GetProperty("spec").GetProperty("ports")[0].GetProperty("name").GetString());
        }

        // Without discovery, each model's one backend is its Service.
        var fixedBackends = await Chart.TemplateWithAsync("dispatcher:\n  discovery:\n    enabled: false\n", Chart.Example("two-models-gpu-pvc.yaml"));
        var backends = Models(fixedBackends).SelectMany(m => m.GetProperty("Backends").EnumerateArray().Select(b => b.GetString())).Order();
        Assert.Equal(services.Keys.Select(s => $"http://{s}:8000").Order(), backends);
        Assert.DoesNotContain(fixedBackends.Objects("Role").SelectMany(r => r.GetProperty("rules").EnumerateArray()), r => r.GetProperty("resources")[0].GetString() == "endpointslices");
    }

    [Fact]
    public async Task Autoscaling_Enabled_ScalesTheModelsDeploymentOnTheDispatchersDemand()
    {
        var rendered = await Chart.TemplateAsync(Chart.Example("everything.yaml"));
        var deployments = rendered.Objects("Deployment").Where(d => Component(d) == "vllm").ToDictionary(d => d.Name());

        // KEDA: a ScaledObject querying Prometheus for the model's requests waiting plus running.
        var scaled = Assert.Single(rendered.Objects("ScaledObject")).GetProperty("spec");
        Assert.True(deployments.ContainsKey(scaled.GetProperty("scaleTargetRef").GetProperty("name").GetString()!));
        Assert.Equal((1, 6), (scaled.GetProperty("minReplicaCount").GetInt32(), scaled.GetProperty("maxReplicaCount").GetInt32()));
        var trigger = Assert.Single(scaled.GetProperty("triggers").EnumerateArray());
        Assert.Equal("prometheus", trigger.GetProperty("type").GetString());
        var query = trigger.GetProperty("metadata").GetProperty("query").GetString()!;
        Assert.Contains("dispatcher_waiting{model=\"llama-3.1-8b\"}", query, StringComparison.Ordinal);
        Assert.Contains("dispatcher_in_flight{model=\"llama-3.1-8b\"}", query, StringComparison.Ordinal);
        Assert.Equal("24", trigger.GetProperty("metadata").GetProperty("threshold").GetString());
        var behavior = scaled.GetProperty("advanced").GetProperty("horizontalPodAutoscalerConfig").GetProperty("behavior");
        Assert.Equal(300, behavior.GetProperty("scaleDown").GetProperty("stabilizationWindowSeconds").GetInt32());
        Assert.Equal(0, behavior.GetProperty("scaleUp").GetProperty("stabilizationWindowSeconds").GetInt32());

        // HPA: the external metric prometheus-adapter serves, per model.
        var hpa = rendered.Objects("HorizontalPodAutoscaler").Single(h => deployments.ContainsKey(h.GetProperty("spec").GetProperty("scaleTargetRef").GetProperty("name").GetString()!));
        var external = Assert.Single(hpa.GetProperty("spec").GetProperty("metrics").EnumerateArray()).GetProperty("external");
        Assert.Equal("dispatcher_model_demand", external.GetProperty("metric").GetProperty("name").GetString());
        Assert.Equal("qwen2.5-7b", external.GetProperty("metric").GetProperty("selector").GetProperty("matchLabels").GetProperty("model").GetString());
        Assert.Equal(300, hpa.GetProperty("spec").GetProperty("behavior").GetProperty("scaleDown").GetProperty("stabilizationWindowSeconds").GetInt32());

        // The autoscaler owns the replica count: the Deployments do not set one.
        Assert.All(deployments.Values, d => Assert.False(d.GetProperty("spec").TryGetProperty("replicas", out _)));
    }

    [Theory]
    [MemberData(nameof(ValuesFiles))]
    public async Task Secrets_NeverInAConfigMapOrAPlainEnvValue(string example)
    {
        var rendered = await Chart.TemplateAsync(Files(example));
        var text = rendered.GetProperty("objects").ToString();

        foreach (var configMap in rendered.Objects("ConfigMap"))
        {
            Assert.DoesNotMatch("(?i)password|secret|token\"\\s*:", configMap.GetProperty("data").ToString());
        }

        var containers = rendered.GetProperty("objects").EnumerateArray()
            .Where(o => o.TryGetProperty("spec", out var spec) && spec.TryGetProperty("template", out _))
            .SelectMany(o => o.GetProperty("spec").GetProperty("template").GetProperty("spec").GetProperty("containers").EnumerateArray());
        foreach (var env in containers.SelectMany(c => c.TryGetProperty("env", out var e) ? e.EnumerateArray() : Enumerable.Empty<JsonElement>()))
        {
            var name = env.GetProperty("name").GetString()!;
            if (name.Contains("PASSWORD", StringComparison.Ordinal) || name.Contains("TOKEN", StringComparison.Ordinal) || name.Contains("AdminToken", StringComparison.Ordinal)
                || name.Contains("InternalKey", StringComparison.Ordinal))
            {
                Assert.True(env.TryGetProperty("valueFrom", out _), $"{name} is a plain value");
            }

            if (env.TryGetProperty("value", out var value))
            {
                Assert.DoesNotMatch("(?i)password=(?!\\$\\(PGPASSWORD\\))", value.GetString()!);
            }
        }

        Assert.DoesNotContain("dispatcher-tokens-value", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NetworkPolicy_VllmAcceptsOnlyTheDispatcher()
    {
        var rendered = await Chart.TemplateAsync();
        var policy = rendered.Objects("NetworkPolicy").Single(p => p.Name().EndsWith("-vllm", StringComparison.Ordinal));
        var spec = policy.GetProperty("spec");

        Assert.Equal("vllm", spec.GetProperty("podSelector").GetProperty("matchLabels").GetProperty("app.kubernetes.io/component").GetString());
        Assert.Equal(["Ingress"], spec.GetProperty("policyTypes").EnumerateArray().Select(t => t.GetString()));
        var from = Assert.Single(spec.GetProperty("ingress").EnumerateArray()).GetProperty("from");
        Assert.Equal(["frontend", "silo"], Components(from)); // frontends forward requests, silos scrape /metrics
        var vllmPods = rendered.Objects("Deployment").Where(d => d.Name().Contains("-vllm-", StringComparison.Ordinal))
            .Select(d => d.GetProperty("spec").GetProperty("template").GetProperty("metadata").GetProperty("labels").GetProperty("app.kubernetes.io/component").GetString());
        Assert.All(vllmPods, component => Assert.Equal("vllm", component));
    }

    [Fact]
    public async Task NetworkPolicy_SilosTalkOnTheSiloPortFrontendsOnTheGatewayAndOnlyTheDispatcherReachesTheDatabase()
    {
        var rendered = await Chart.TemplateAsync();
        var silo = rendered.Objects("NetworkPolicy").Single(p => p.Name().EndsWith("-silo", StringComparison.Ordinal)).GetProperty("spec");
        var rules = silo.GetProperty("ingress").EnumerateArray().ToDictionary(r => r.GetProperty("ports")[0].GetProperty("port").GetInt32());
        Assert.Equal([8082, 11111, 30000], rules.Keys.Order());
        Assert.Equal(["silo"], Components(rules[11111].GetProperty("from")));
        Assert.Equal(["frontend"], Components(rules[30000].GetProperty("from")));

        var database = rendered.Objects("NetworkPolicy").Single(p => p.Name().EndsWith("-postgresql", StringComparison.Ordinal)).GetProperty("spec");
        Assert.Equal(["frontend", "migrate", "silo", "token-seed"], Components(Assert.Single(database.GetProperty("ingress").EnumerateArray()).GetProperty("from")));
    }

    [Fact]
    public async Task Cluster_SilosOnOrleansKubernetesHostingAndFrontendsAsItsClients()
    {
        var rendered = await Chart.TemplateAsync();
        var frontend = Env(rendered, "frontend");
        var silo = Env(rendered, "silo");

        // What Orleans' Kubernetes hosting reads, from the downward API; the same cluster ids everywhere.
        Assert.Equal("metadata.name", silo["POD_NAME"].GetProperty("valueFrom").GetProperty("fieldRef").GetProperty("fieldPath").GetString());
        Assert.Equal("metadata.namespace", silo["POD_NAMESPACE"].GetProperty("valueFrom").GetProperty("fieldRef").GetProperty("fieldPath").GetString());
        Assert.Equal("status.podIP", silo["POD_IP"].GetProperty("valueFrom").GetProperty("fieldRef").GetProperty("fieldPath").GetString());
        var clusterId = silo["ORLEANS_CLUSTER_ID"].GetProperty("value").GetString();
        foreach (var name in new[] { "ORLEANS_SERVICE_ID", "Dispatcher__Cluster__ClusterId", "Dispatcher__Cluster__ServiceId" })
        {
            Assert.Equal(clusterId, silo[name].GetProperty("value").GetString());
            Assert.Equal(clusterId, frontend[name].GetProperty("value").GetString());
        }

        Assert.Equal("Client", frontend["Dispatcher__Cluster__Mode"].GetProperty("value").GetString());
        Assert.Contains("ConnectionStrings__Postgres", frontend.Keys); // the gateway list is in the membership table
        Assert.Contains("ConnectionStrings__Postgres", silo.Keys);
        var siloPod = Deployment(rendered, "silo").GetProperty("spec").GetProperty("template");
        Assert.Equal(clusterId, siloPod.GetProperty("metadata").GetProperty("labels").GetProperty("orleans/clusterId").GetString());
        var spec = siloPod.GetProperty("spec");
        var container = spec.GetProperty("containers")[0];
        Assert.Equal(["serve"], container.GetProperty("args").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal([("gateway", 30000), ("management", 8082), ("silo", 11111)],
            container.GetProperty("ports").EnumerateArray().Select(p => (p.GetProperty("name").GetString(), p.GetProperty("containerPort").GetInt32())).Order());
        Assert.Equal("/health/live", container.GetProperty("livenessProbe").GetProperty("httpGet").GetProperty("path").GetString());
        Assert.True(spec.GetProperty("terminationGracePeriodSeconds").GetInt32() >= 10, "a stopping silo needs time to move its grains");

        // RBAC: the silos' own account may read, watch and label pods, and read EndpointSlices (discovery); nothing else.
        var account = spec.GetProperty("serviceAccountName").GetString();
        Assert.True(spec.GetProperty("automountServiceAccountToken").GetBoolean());
        Assert.Equal(["endpointslices: get,list,watch", "pods: get,list,patch,watch"], Rules(rendered, account));
        Assert.Single(rendered.Objects("ServiceAccount"));
        Assert.False(Deployment(rendered, "frontend").GetProperty("spec").GetProperty("template").GetProperty("spec").GetProperty("automountServiceAccountToken").GetBoolean());

        // The schema before the silos: a hook Job (after install with the chart's own database, which does not exist before).
        var migrate = Assert.Single(rendered.Objects("Job"), j => j.Name().EndsWith("-migrate", StringComparison.Ordinal));
        Assert.Equal("post-install,pre-upgrade", migrate.GetProperty("metadata").GetProperty("annotations").GetProperty("helm.sh/hook").GetString());
        Assert.Equal(["migrate"], migrate.GetProperty("spec").GetProperty("template").GetProperty("spec").GetProperty("containers")[0].GetProperty("args").EnumerateArray().Select(a => a.GetString()));
    }

    [Fact]
    public async Task Cluster_Tls_SilosAndFrontendsMountTheSecretAndPointTheirSettingsAtIt()
    {
        var rendered = await Chart.TemplateWithAsync("silo:\n  tls:\n    enabled: true\n    secretName: cluster-tls\n");

        foreach (var component in new[] { "silo", "frontend" })
        {
            var pod = Deployment(rendered, component).GetProperty("spec").GetProperty("template").GetProperty("spec");
            var volume = pod.GetProperty("volumes").EnumerateArray().Single(v => v.GetProperty("name").GetString() == "cluster-tls");
            Assert.Equal("cluster-tls", volume.GetProperty("secret").GetProperty("secretName").GetString());
            var mount = pod.GetProperty("containers")[0].GetProperty("volumeMounts").EnumerateArray().Single(m => m.GetProperty("name").GetString() == "cluster-tls");
            Assert.True(mount.GetProperty("readOnly").GetBoolean());
            var env = Env(rendered, component);
            var directory = mount.GetProperty("mountPath").GetString();
            Assert.Equal($"{directory}/tls.crt", env["Dispatcher__Cluster__Tls__CertificatePath"].GetProperty("value").GetString());
            Assert.Equal($"{directory}/tls.key", env["Dispatcher__Cluster__Tls__KeyPath"].GetProperty("value").GetString());
            Assert.Equal($"{directory}/ca.crt", env["Dispatcher__Cluster__Tls__CaPath"].GetProperty("value").GetString());
        }

        var unnamed = await Chart.TemplateWithAsync("silo:\n  tls:\n    enabled: true\n");
        Assert.False(unnamed.GetProperty("ok").GetBoolean());
        Assert.Contains("silo.tls.secretName must name the Secret", unnamed.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(Env(await Chart.TemplateAsync(), "silo").Keys, k => k.StartsWith("Dispatcher__Cluster__Tls", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Migration_ExternalDatabase_RunsBeforeInstall()
    {
        var rendered = await Chart.TemplateAsync(Chart.Example("external-db.yaml"));
        var migrate = Assert.Single(rendered.Objects("Job"), j => j.Name().EndsWith("-migrate", StringComparison.Ordinal));
        Assert.Equal("pre-install,pre-upgrade", migrate.GetProperty("metadata").GetProperty("annotations").GetProperty("helm.sh/hook").GetString());
    }

    [Fact]
    public async Task Cluster_Disabled_FrontendCoHostsItsSilo()
    {
        var rendered = await Chart.TemplateWithAsync("silo:\n  enabled: false\nfrontend:\n  replicaCount: 1\n");

        Assert.DoesNotContain(rendered.Objects("Deployment"), d => Component(d) == "silo");
        var frontend = Env(rendered, "frontend");
        Assert.Contains("ConnectionStrings__Postgres", frontend.Keys);
        Assert.DoesNotContain("Dispatcher__Cluster__Mode", frontend.Keys); // the embedded default: a co-hosted silo

        // Co-hosting the grains, the frontends find the replicas themselves: their own account reads EndpointSlices only.
        var pod = Deployment(rendered, "frontend").GetProperty("spec").GetProperty("template").GetProperty("spec");
        Assert.True(pod.GetProperty("automountServiceAccountToken").GetBoolean());
        Assert.Equal(["endpointslices: get,list,watch"], Rules(rendered, pod.GetProperty("serviceAccountName").GetString()));
    }

    [Fact]
    public async Task DispatcherPods_RunHardened()
    {
        var rendered = await Chart.TemplateAsync(Chart.Example("everything.yaml"));
        foreach (var component in new[] { "frontend", "silo" })
        {
            var pod = Deployment(rendered, component).GetProperty("spec").GetProperty("template").GetProperty("spec");
            var container = pod.GetProperty("containers")[0].GetProperty("securityContext");

            Assert.True(pod.GetProperty("securityContext").GetProperty("runAsNonRoot").GetBoolean());
            Assert.True(container.GetProperty("readOnlyRootFilesystem").GetBoolean());
            Assert.False(container.GetProperty("allowPrivilegeEscalation").GetBoolean());
            Assert.Equal(["ALL"], container.GetProperty("capabilities").GetProperty("drop").EnumerateArray().Select(c => c.GetString()));
            Assert.Equal("/health/ready", pod.GetProperty("containers")[0].GetProperty("readinessProbe").GetProperty("httpGet").GetProperty("path").GetString());
        }

        Assert.Equal(2, rendered.Objects("HorizontalPodAutoscaler").Count()); // the frontends, and one model's replicas
        Assert.Equal(2, rendered.Objects("PodDisruptionBudget").Count()); // frontends and silos
        Assert.Single(rendered.Objects("Ingress"));
        Assert.Equal(2, rendered.Objects("ServiceMonitor").Count());
        Assert.Single(rendered.Objects("PodMonitor"));
        Assert.Single(rendered.Objects("PrometheusRule"));
    }

    [Theory]
    [InlineData("models:\n  - name: m\n    model: org/m\n    replicaCount: two\n", "replicaCount")]
    [InlineData("models:\n  - name: m\n    model: org/m\n    replicaCount: 1\n    autoscaling:\n      enabled: true\n      kind: knative\n", "kind")]
    [InlineData("models:\n  - name: m\n    model: org/m\n    replicaCount: 1\n    autoscaling:\n      maxReplicas: \"4\"\n", "maxReplicas")]
    [InlineData("dispatcher:\n  discovery:\n    enabled: \"yes\"\n", "enabled")]
    public async Task Schema_ValueOfTheWrongType_IsRejected(string values, string named)
    {
        var rendered = await Chart.TemplateWithAsync(values);

        Assert.False(rendered.GetProperty("ok").GetBoolean());
        Assert.Contains(named, rendered.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlainManifests_AreTheChartRenderedWithTheirValues()
    {
        var k8s = Path.Combine(Chart.Repository, "deploy", "k8s");
        var rendered = await Chart.TemplateAsync(Path.Combine(k8s, "values.yaml"));

        Assert.Equal(rendered.GetProperty("manifest").GetString(), await File.ReadAllTextAsync(Path.Combine(k8s, "dispatcher.yaml")));
        Assert.Empty(rendered.Objects("Secret")); // the plain manifests carry no generated secret
    }

    private static string? Component(JsonElement deployment) =>
        deployment.GetProperty("spec").GetProperty("template").GetProperty("metadata").GetProperty("labels").GetProperty("app.kubernetes.io/component").GetString();

    private static JsonElement Deployment(JsonElement rendered, string component) =>
        rendered.Objects("Deployment").Single(d => Component(d) == component);

    private static Dictionary<string, JsonElement> Env(JsonElement rendered, string component) =>
        Deployment(rendered, component).GetProperty("spec").GetProperty("template").GetProperty("spec").GetProperty("containers")[0]
            .GetProperty("env").EnumerateArray().ToDictionary(e => e.GetProperty("name").GetString()!, e => e);

    private static IEnumerable<JsonElement> Models(JsonElement rendered)
    {
        var configMap = rendered.Objects("ConfigMap").Single(c => c.GetProperty("data").TryGetProperty("appsettings.Production.json", out _));
        var settings = JsonDocument.Parse(configMap.GetProperty("data").GetProperty("appsettings.Production.json").GetString()!).RootElement;
        return [.. settings.GetProperty("Dispatcher").GetProperty("Models").EnumerateArray()];
    }

    /// <summary>The rules of the Role bound to service account <paramref name="account"/>, as "resources: verbs", sorted.</summary>
    private static List<string> Rules(JsonElement rendered, string? account)
    {
        var binding = rendered.Objects("RoleBinding").Single(b => b.GetProperty("subjects")[0].GetProperty("name").GetString() == account);
        var role = rendered.Objects("Role").Single(r => r.Name() == binding.GetProperty("roleRef").GetProperty("name").GetString());
        return [.. role.GetProperty("rules").EnumerateArray()
            .Select(r => $"{string.Join(",", r.GetProperty("resources").EnumerateArray().Select(x => x.GetString()))}: {string.Join(",", r.GetProperty("verbs").EnumerateArray().Select(v => v.GetString()).Order())}")
            .Order()];
    }

    private static List<string?> Components(JsonElement from) =>
        [.. from.EnumerateArray().Select(f => f.GetProperty("podSelector").GetProperty("matchLabels").GetProperty("app.kubernetes.io/component").GetString()).Order()];
}
