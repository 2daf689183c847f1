namespace Dispatcher.VllmEmulator;

/// <summary>A copy of the emulated engine's counters at one instant.</summary>
/// <param name="Running">Requests generating now.</param>
/// <param name="Waiting">Requests queued behind <see cref="EmulatorOptions.MaxNumSeqs"/>.</param>
/// <param name="Received">Requests that reached the engine.</param>
/// <param name="Completed">Requests that finished normally.</param>
/// <param name="Aborted">Requests whose client went away before they finished.</param>
/// <param name="GenerationTokens">Tokens generated in all.</param>
/// <param name="MaxRunning">The most requests that ever ran at once.</param>
public sealed record EngineStats(int Running, int Waiting, long Received, long Completed, long Aborted, long GenerationTokens, int MaxRunning);
