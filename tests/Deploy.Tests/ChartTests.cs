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
    public async Task Models_EachReplicaGetsAGpuDeploymentWithItsVllmArguments()
    {
        var rendered = await Chart.TemplateAsync(Chart.Example("two-models-gpu-pvc.yaml"));
        var vllm = rendered.Objects("Deployment").Where(d => d.Name().Contains("-vllm-", StringComparison.Ordinal)).ToList();

        Assert.Equal(3, vllm.Count); // 2 replicas of the 70B model, 1 of the coder
        var big = vllm.Where(d => d.Name().Contains("llama-3-1-70b", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, big.Count);
        foreach (var deployment in big)
        {
            var pod = deployment.GetProperty("spec").GetProperty("template").GetProperty("spec");
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
        }

        Assert.Equal(3, rendered.Objects("PersistentVolumeClaim").Count());
    }

    [Fact]
    public async Task Dispatcher_BackendListMatchesTheVllmServices()
    {
        var rendered = await Chart.TemplateAsync(Chart.Example("two-models-gpu-pvc.yaml"));
        var configMap = rendered.Objects("ConfigMap").Single(c => c.GetProperty("data").TryGetProperty("appsettings.Production.json", out _));
        var settings = JsonDocument.Parse(configMap.GetProperty("data").GetProperty("appsettings.Production.json").GetString()!).RootElement;
        var backends = settings.GetProperty("Dispatcher").GetProperty("Models").EnumerateArray()
            .ToDictionary(m => m.GetProperty("Name").GetString()!, m => m.GetProperty("Backends").EnumerateArray().Select(b => b.GetString()!).ToList());
        var services = rendered.Objects("Service").Where(s => s.Name().Contains("-vllm-", StringComparison.Ordinal)).Select(s => $"http://{s.Name()}:8000").ToHashSet();

        Assert.Equal(["llama-3.1-70b", "qwen2.5-coder-7b"], backends.Keys.Order());
        Assert.Equal(2, backends["llama-3.1-70b"].Count);
        Assert.Single(backends["qwen2.5-coder-7b"]);
        Assert.Equal(services, backends.Values.SelectMany(b => b).ToHashSet());
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

        // RBAC: the silos' own account may read, watch and label pods, and nothing else.
        var account = spec.GetProperty("serviceAccountName").GetString();
        Assert.True(spec.GetProperty("automountServiceAccountToken").GetBoolean());
        var binding = rendered.Objects("RoleBinding").Single(b => b.GetProperty("subjects")[0].GetProperty("name").GetString() == account);
        var role = rendered.Objects("Role").Single(r => r.Name() == binding.GetProperty("roleRef").GetProperty("name").GetString());
        var rule = Assert.Single(role.GetProperty("rules").EnumerateArray());
        Assert.Equal(["pods"], rule.GetProperty("resources").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal(["get", "list", "patch", "watch"], rule.GetProperty("verbs").EnumerateArray().Select(v => v.GetString()).Order());
        Assert.Single(rendered.Objects("ServiceAccount"));
        Assert.False(Deployment(rendered, "frontend").GetProperty("spec").GetProperty("template").GetProperty("spec").GetProperty("automountServiceAccountToken").GetBoolean());

        // The schema before the silos: a hook Job (after install with the chart's own database, which does not exist before).
        var migrate = Assert.Single(rendered.Objects("Job"), j => j.Name().EndsWith("-migrate", StringComparison.Ordinal));
        Assert.Equal("post-install,pre-upgrade", migrate.GetProperty("metadata").GetProperty("annotations").GetProperty("helm.sh/hook").GetString());
        Assert.Equal(["migrate"], migrate.GetProperty("spec").GetProperty("template").GetProperty("spec").GetProperty("containers")[0].GetProperty("args").EnumerateArray().Select(a => a.GetString()));
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
        var file = Path.Combine(Path.GetTempPath(), $"no-silo-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, "silo:\n  enabled: false\nfrontend:\n  replicaCount: 1\n");
        try
        {
            var rendered = await Chart.TemplateAsync(file);

            Assert.DoesNotContain(rendered.Objects("Deployment"), d => Component(d) == "silo");
            var frontend = Env(rendered, "frontend");
            Assert.Contains("ConnectionStrings__Postgres", frontend.Keys);
            Assert.DoesNotContain("Dispatcher__Cluster__Mode", frontend.Keys); // the embedded default: a co-hosted silo
        }
        finally
        {
            File.Delete(file);
        }
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

        Assert.Single(rendered.Objects("HorizontalPodAutoscaler"));
        Assert.Equal(2, rendered.Objects("PodDisruptionBudget").Count()); // frontends and silos
        Assert.Single(rendered.Objects("Ingress"));
        Assert.Equal(2, rendered.Objects("ServiceMonitor").Count());
        Assert.Single(rendered.Objects("PodMonitor"));
        Assert.Single(rendered.Objects("PrometheusRule"));
    }

    [Fact]
    public async Task Schema_ValueOfTheWrongType_IsRejected()
    {
        var file = Path.Combine(Path.GetTempPath(), $"bad-values-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, "models:\n  - name: m\n    model: org/m\n    replicaCount: two\n");
        try
        {
            var rendered = await Chart.TemplateAsync(file);

            Assert.False(rendered.GetProperty("ok").GetBoolean());
            Assert.Contains("replicaCount", rendered.GetProperty("error").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
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

    private static List<string?> Components(JsonElement from) =>
        [.. from.EnumerateArray().Select(f => f.GetProperty("podSelector").GetProperty("matchLabels").GetProperty("app.kubernetes.io/component").GetString()).Order()];
}
