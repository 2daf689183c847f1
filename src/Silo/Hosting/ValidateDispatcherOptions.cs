using Dispatcher.Grains.Abstractions.Configuration;
using Microsoft.Extensions.Options;

namespace Dispatcher.Silo.Hosting;

/// <summary>Runs <see cref="DispatcherOptionsValidator"/> when the options are first read (at start).</summary>
internal sealed class ValidateDispatcherOptions : IValidateOptions<DispatcherOptions>
{
    public ValidateOptionsResult Validate(string? name, DispatcherOptions options)
    {
        var errors = DispatcherOptionsValidator.Validate(options);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
