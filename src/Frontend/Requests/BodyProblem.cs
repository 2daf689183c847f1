using Dispatcher.Frontend.Errors;

namespace Dispatcher.Frontend.Requests;

/// <summary>Why a body was refused, with the message and field to report.</summary>
internal sealed record BodyProblem(DispatcherError Error, string Message, string? Param = null);
