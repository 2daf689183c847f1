namespace Dispatcher.VllmEmulator;

/// <summary>
/// How the emulated replica behaves. One engine step produces one token for every running request and takes
/// <see cref="StepBase"/> + <see cref="StepPerRunning"/> × running, so each user's token rate falls as
/// concurrency grows, as on a real GPU. The defaults approximate an 8B model on one H100 (about 150 tokens/s
/// for one user, 20 tokens/s each at 64).
/// </summary>
public sealed class EmulatorOptions
{
    /// <summary>The configuration section name used by the standalone emulator.</summary>
    public const string SectionName = "Emulator";

    /// <summary>The served model name (vLLM <c>--served-model-name</c>). Default <c>demo-model</c>.</summary>
    public string ModelName { get; set; } = "demo-model";

    /// <summary>Reported in <c>/v1/models</c>. Default 8192.</summary>
    public int MaxModelLen { get; set; } = 8192;

    /// <summary>The fixed part of one engine step. Default 6 ms.</summary>
    public TimeSpan StepBase { get; set; } = TimeSpan.FromMilliseconds(6);

    /// <summary>What each running request adds to a step. Default 0.69 ms.</summary>
    public TimeSpan StepPerRunning { get; set; } = TimeSpan.FromMilliseconds(0.69);

    /// <summary>Prefill time per prompt token, added before the first token. Default 0.05 ms.</summary>
    public TimeSpan PrefillPerToken { get; set; } = TimeSpan.FromMilliseconds(0.05);

    /// <summary>The most requests running at once (vLLM <c>--max-num-seqs</c>); more wait. Default 256.</summary>
    public int MaxNumSeqs { get; set; } = 256;

    /// <summary>Tokens generated when the request sets no <c>max_tokens</c> (finish reason <c>stop</c>). Default 32.</summary>
    public int DefaultCompletionTokens { get; set; } = 32;

    /// <summary>KV-cache size in tokens, for <c>vllm:kv_cache_usage_perc</c>. Default 262144.</summary>
    public int KvCacheTokens { get; set; } = 262_144;

    /// <summary>When set, <c>/v1</c> routes require this bearer key (vLLM <c>--api-key</c>).</summary>
    public string? ApiKey { get; set; }
}
