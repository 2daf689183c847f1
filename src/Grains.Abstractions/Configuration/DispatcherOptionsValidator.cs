using Dispatcher.Grains.Abstractions.Backends;
using Dispatcher.Grains.Abstractions.Tokens;

namespace Dispatcher.Grains.Abstractions.Configuration;

/// <summary>Checks a <see cref="DispatcherOptions"/> at start; every message names the setting at fault.</summary>
public static class DispatcherOptionsValidator
{
    /// <summary>The longest queue timeout: five minutes under the lease call's response timeout.</summary>
    public static readonly TimeSpan MaxQueueTimeout = TimeSpan.Parse(Models.IModelGrain.AcquireTimeout, System.Globalization.CultureInfo.InvariantCulture) - TimeSpan.FromMinutes(5);

    /// <summary>Returns one message per problem; empty when the options are valid.</summary>
    public static IReadOnlyList<string> Validate(DispatcherOptions options)
    {
        var errors = new List<string>();
        const string root = DispatcherOptions.SectionName;
        QueueTimeout(errors, options.QueueTimeout, $"{root}:QueueTimeout");
        Positive(errors, options.HolderExpiry, $"{root}:HolderExpiry");
        Positive(errors, options.MaxLeaseLifetime, $"{root}:MaxLeaseLifetime");
        if (options.RetryAfter < TimeSpan.Zero)
        {
            errors.Add($"{root}:RetryAfter must not be negative.");
        }

        if (options.MaxConcurrentLeasesPerBackend is < 1)
        {
            errors.Add($"{root}:MaxConcurrentLeasesPerBackend must be at least 1.");
        }

        ValidateCapacity(errors, options.Capacity, $"{root}:Capacity");
        Positive(errors, options.TokenStore.CacheTtl, $"{root}:TokenStore:CacheTtl");
        Positive(errors, options.TokenStore.UnknownCacheTtl, $"{root}:TokenStore:UnknownCacheTtl");
        Positive(errors, options.TokenStore.RetryAfterFailure, $"{root}:TokenStore:RetryAfterFailure");

        Positive(errors, options.Scheduling.AgingInterval, $"{root}:Scheduling:AgingInterval");
        if (!Enum.IsDefined(options.Scheduling.Policy))
        {
            errors.Add($"{root}:Scheduling:Policy must be Fair or Strict.");
        }

        if (!Enum.IsDefined(options.Scheduling.Fairness))
        {
            errors.Add($"{root}:Scheduling:Fairness must be Requests or Tokens.");
        }

        var modelNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Models.Count; i++)
        {
            var model = options.Models[i];
            var at = $"{root}:Models:{i}";
            if (string.IsNullOrWhiteSpace(model.Name))
            {
                errors.Add($"{at}:Name must not be empty.");
            }
            else if (!modelNames.Add(model.Name))
            {
                errors.Add($"{at}:Name '{model.Name}' is already used by another model.");
            }

            if (model.Discovery is { } discovery)
            {
                if (model.Backends.Count > 0)
                {
                    errors.Add($"{at}: give either Backends or Discovery, not both.");
                }

                if (string.IsNullOrWhiteSpace(discovery.Service))
                {
                    errors.Add($"{at}:Discovery:Service must name the Kubernetes Service of the model's replicas.");
                }

                if (discovery.Scheme is not ("http" or "https"))
                {
                    errors.Add($"{at}:Discovery:Scheme must be http or https.");
                }
            }
            else if (model.Backends.Count == 0)
            {
                errors.Add($"{at}:Backends must not be empty (or set Discovery to find the replicas in Kubernetes).");
            }

            for (var b = 0; b < model.Backends.Count; b++)
            {
                if (BackendAddress.TryNormalize(model.Backends[b]) is null)
                {
                    errors.Add($"{at}:Backends:{b} must be an absolute http or https address without query, e.g. http://vllm-0:8000.");
                }
            }

            if (model.QueueTimeout is { } timeout)
            {
                QueueTimeout(errors, timeout, $"{at}:QueueTimeout");
            }

            if (model.MaxConcurrentLeasesPerBackend is < 1)
            {
                errors.Add($"{at}:MaxConcurrentLeasesPerBackend must be at least 1.");
            }

            if (!options.Capacity.UseMetrics && (model.MaxConcurrentLeasesPerBackend ?? options.MaxConcurrentLeasesPerBackend) is null)
            {
                errors.Add($"{at}:MaxConcurrentLeasesPerBackend (or {root}:MaxConcurrentLeasesPerBackend) is required when {root}:Capacity:UseMetrics is false.");
            }

            if (model.MinTokensPerSecond is < 0)
            {
                errors.Add($"{at}:MinTokensPerSecond must not be negative.");
            }
        }

        var tokenIds = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Tokens.Count; i++)
        {
            var token = options.Tokens[i];
            var at = $"{root}:Tokens:{i}";
            var hasSecret = !string.IsNullOrEmpty(token.Token);
            var hasHash = !string.IsNullOrEmpty(token.TokenSha256);
            if (hasSecret == hasHash)
            {
                errors.Add($"{at} must set exactly one of Token and TokenSha256.");
            }
            else if (hasHash && !TokenHash.IsTokenId(token.TokenSha256!.ToLowerInvariant()))
            {
                errors.Add($"{at}:TokenSha256 must be 64 hexadecimal digits.");
            }
            else if (!tokenIds.Add(hasSecret ? TokenHash.Compute(token.Token) : token.TokenSha256!.ToLowerInvariant()))
            {
                errors.Add($"{at} repeats a token already configured.");
            }

            if (token.Priority is < 1 or > SchedulingOptions.MaxPriority)
            {
                errors.Add($"{at}:Priority must be from 1 to {SchedulingOptions.MaxPriority}.");
            }

            if (token.Threshold < 1)
            {
                errors.Add($"{at}:Threshold must be at least 1.");
            }

            if (token.MaxInFlight is < 1)
            {
                errors.Add($"{at}:MaxInFlight must be at least 1 when set.");
            }
        }

        return errors;
    }

    private static void ValidateCapacity(List<string> errors, CapacityOptions capacity, string at)
    {
        Positive(errors, capacity.ScrapeInterval, $"{at}:ScrapeInterval");
        Positive(errors, capacity.ScrapeTimeout, $"{at}:ScrapeTimeout");
        Positive(errors, capacity.EstimationWindow, $"{at}:EstimationWindow");
        Positive(errors, capacity.ProbeBackoff, $"{at}:ProbeBackoff");
        Positive(errors, capacity.MaxProbeBackoff, $"{at}:MaxProbeBackoff");
        if (capacity.MinTokensPerSecond < 0)
        {
            errors.Add($"{at}:MinTokensPerSecond must not be negative.");
        }

        if (capacity.MaxWaiting < 0)
        {
            errors.Add($"{at}:MaxWaiting must not be negative.");
        }

        if (capacity.MaxKvCacheUsage is <= 0 or > 1)
        {
            errors.Add($"{at}:MaxKvCacheUsage must be above 0 and at most 1.");
        }

        if (capacity.ColdStartLeases < 1)
        {
            errors.Add($"{at}:ColdStartLeases must be at least 1.");
        }

        if (capacity.FailuresToEject < 1)
        {
            errors.Add($"{at}:FailuresToEject must be at least 1.");
        }
    }

    /// <summary>A queue timeout must end the wait before the lease call's own response timeout does.</summary>
    private static void QueueTimeout(List<string> errors, TimeSpan value, string setting)
    {
        Positive(errors, value, setting);
        if (value > MaxQueueTimeout)
        {
            errors.Add($"{setting} must be at most {MaxQueueTimeout:c} (the lease call's response timeout is {TimeSpan.Parse(Models.IModelGrain.AcquireTimeout, System.Globalization.CultureInfo.InvariantCulture):c}).");
        }
    }

    private static void Positive(List<string> errors, TimeSpan value, string setting)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{setting} must be positive.");
        }
    }
}
