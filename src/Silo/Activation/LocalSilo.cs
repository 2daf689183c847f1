using System.Collections.Concurrent;
using System.Reflection;
using Dispatcher.Grains.Abstractions;
using Dispatcher.Grains.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dispatcher.Silo.Activation;

/// <summary>
/// The in-process silo: activates one grain per (interface, key) on first call, delivers calls as turns,
/// and deactivates idle activations. Implements <see cref="IGrainFactory"/>, so callers cannot tell it from
/// a remote silo. Thread-safe.
/// </summary>
internal sealed partial class LocalSilo : IGrainFactory, IAsyncDisposable
{
    private static readonly MethodInfo InvokeResultMethod =
        typeof(LocalSilo).GetMethod(nameof(InvokeWithResultAsync), BindingFlags.NonPublic | BindingFlags.Instance)!;

    private readonly ConcurrentDictionary<GrainId, GrainActivation> _activations = new();
    private readonly Lock _activationGate = new();
    private readonly ConcurrentDictionary<MethodInfo, Func<GrainId, MethodInfo, object?[], object>> _invokers = new();
    private readonly Dictionary<Type, Type> _implementations;
    private readonly IServiceProvider _services;
    private readonly IActivationGate _gate;
    private readonly TimeProvider _time;
    private readonly ILogger<LocalSilo> _logger;

    public LocalSilo(IEnumerable<GrainRegistration> registrations, IServiceProvider services, IActivationGate gate, TimeProvider time, ILogger<LocalSilo> logger)
    {
        _implementations = registrations.ToDictionary(r => r.Interface, r => r.Implementation);
        _services = services;
        _gate = gate;
        _time = time;
        _logger = logger;
    }

    /// <summary>Activations alive now.</summary>
    public int ActivationCount => _activations.Count;

    public TGrain GetGrain<TGrain>(string key) where TGrain : class, IGrainWithStringKey
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!_implementations.ContainsKey(typeof(TGrain)))
        {
            throw new InvalidOperationException($"No grain implementation is registered for {typeof(TGrain).Name}.");
        }

        var reference = DispatchProxy.Create<TGrain, GrainReference>();
        ((GrainReference)(object)reference).Bind(this, new GrainId(typeof(TGrain), key));
        return reference;
    }

    /// <summary>True when the grain is active now (for tests and inspection).</summary>
    public bool IsActive<TGrain>(string key) => _activations.ContainsKey(new GrainId(typeof(TGrain), key));

    /// <summary>Deactivates the activations idle for <paramref name="idleFor"/> whose grains agree. Returns how many.</summary>
    public async Task<int> CollectIdleAsync(TimeSpan idleFor)
    {
        var collected = 0;
        foreach (var activation in _activations.Values)
        {
            if (activation.IsIdle(idleFor) && await activation.TryDeactivateAsync(force: false).ConfigureAwait(false))
            {
                _activations.TryRemove(KeyValuePair.Create(activation.Id, activation));
                Log.Deactivated(_logger, activation.Id.Interface.Name, activation.Key);
                collected++;
            }
        }

        return collected;
    }

    /// <summary>
    /// Deactivates the grain now, whatever it holds (its model moved to another silo and its calls have ended).
    /// Does nothing when it is not active.
    /// </summary>
    public async Task DeactivateAsync<TGrain>(string key)
    {
        var id = new GrainId(typeof(TGrain), key);
        if (_activations.TryGetValue(id, out var activation))
        {
            await activation.TryDeactivateAsync(force: true).ConfigureAwait(false);
            _activations.TryRemove(KeyValuePair.Create(id, activation));
            Log.Deactivated(_logger, id.Interface.Name, key);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var activation in _activations.Values)
        {
            await activation.TryDeactivateAsync(force: true).ConfigureAwait(false);
        }

        _activations.Clear();
    }

    internal object Invoke(GrainId id, MethodInfo method, object?[] args) =>
        _invokers.GetOrAdd(method, CreateInvoker)(id, method, args);

    internal void ReportTimerFailure(GrainId id, Exception exception) =>
        Log.TimerFailed(_logger, exception, id.Interface.Name, id.Key);

    private Func<GrainId, MethodInfo, object?[], object> CreateInvoker(MethodInfo method)
    {
        var returnType = method.ReturnType;
        if (returnType == typeof(Task))
        {
            return InvokeWithoutResult;
        }

        if (returnType.IsGenericType && returnType.GetGenericTypeDefinition() == typeof(Task<>))
        {
            return InvokeResultMethod.MakeGenericMethod(returnType.GetGenericArguments()[0])
                .CreateDelegate<Func<GrainId, MethodInfo, object?[], object>>(this);
        }

        throw new InvalidOperationException($"Grain method {method.DeclaringType?.Name}.{method.Name} must return Task or Task<T>.");
    }

    private Task<T> InvokeWithResultAsync<T>(GrainId id, MethodInfo method, object?[] args) =>
        InvokeCoreAsync(id, grain => (Task<T>)method.Invoke(grain, BindingFlags.DoNotWrapExceptions, null, args, null)!);

    private Task InvokeWithoutResult(GrainId id, MethodInfo method, object?[] args) =>
        InvokeCoreAsync<bool>(id, async grain =>
        {
            await ((Task)method.Invoke(grain, BindingFlags.DoNotWrapExceptions, null, args, null)!).ConfigureAwait(false);
            return true;
        });

    private Task<T> InvokeCoreAsync<T>(GrainId id, Func<Grain, Task<T>> call)
    {
        while (true)
        {
            var activation = GetOrActivate(id);
            if (activation.TryEnter())
            {
                return activation.InvokeAsync(call);
            }

            // Closing: drop it from the directory so the next round creates a fresh activation.
            _activations.TryRemove(KeyValuePair.Create(id, activation));
        }
    }

    private GrainActivation GetOrActivate(GrainId id)
    {
        if (_activations.TryGetValue(id, out var existing))
        {
            return existing;
        }

        // Creation is serialized so a grain is never activated twice for one key.
        lock (_activationGate)
        {
            if (_activations.TryGetValue(id, out existing))
            {
                return existing;
            }

            if (!_gate.MayActivate(id))
            {
                throw new GrainNotLocalException(id);
            }

            var activation = new GrainActivation(this, id, _time);
            var implementation = _implementations[id.Interface];
            activation.Activate(context => (Grain)ActivatorUtilities.CreateInstance(_services, implementation, context));
            _activations[id] = activation;
            _ = ObserveActivationAsync(activation);
            return activation;
        }
    }

    private async Task ObserveActivationAsync(GrainActivation activation)
    {
        try
        {
            await activation.Activated.ConfigureAwait(false);
            Log.Activated(_logger, activation.Id.Interface.Name, activation.Key);
        }
        catch (Exception exception)
        {
            // The calls waiting on it see the same exception; the next call tries a fresh activation.
            Log.ActivationFailed(_logger, exception, activation.Id.Interface.Name, activation.Key);
            _activations.TryRemove(KeyValuePair.Create(activation.Id, activation));
        }
    }
}
