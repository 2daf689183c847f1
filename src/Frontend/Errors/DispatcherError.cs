namespace Dispatcher.Frontend.Errors;

/// <summary>Every error the dispatcher itself answers. <see cref="OpenAiErrorWriter"/> maps each to its status.</summary>
internal enum DispatcherError
{
    MissingToken,
    UnknownToken,
    TokenStoreUnavailable,
    InvalidJson,
    InvalidField,
    UnsupportedMediaType,
    BodyTooLarge,
    UnknownModel,
    UnknownRoute,
    MethodNotAllowed,
    TooManyFailedAttempts,
    OverThreshold,
    QueueTimeout,
    NoHealthyBackend,
    SiloUnavailable,
    UpstreamUnreachable,
    UpstreamTimeout,
}
