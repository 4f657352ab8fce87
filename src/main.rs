//! Entry point: parse the command line and dispatch to a subcommand.

use std::process::ExitCode;

use clap::Parser;
use multicluster_controlplane::cli::{Cli, Command, ConfigArgs, ConfigCommand, VersionFormat};
use multicluster_controlplane::config::{self, Config};
use multicluster_controlplane::{backup, http, logging, pki, server};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => run_server(&args),
        Command::Kubeconfig(args) => {
            let config = match load(&args.config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let path = pki::Layout::new(&config.data_directory).admin_kubeconfig();
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    print!("{}", replace_server(&text, args.server.as_deref()));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!(
                        "error: cannot read the admin kubeconfig {}: {e}\n\
                         hint: start the server once with the same data directory",
                        path.display()
                    );
                    ExitCode::FAILURE
                }
            }
        }
        Command::Backup(args) => {
            let (config, runtime) = match prepare(&args.config, false) {
                Ok(pair) => pair,
                Err(code) => return code,
            };
            match runtime.block_on(backup::run(&config.data_directory, &args.to)) {
                Ok(()) => {
                    println!("backup written to {}", args.to.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Config(ConfigCommand::Check { file }) => match config::load(Some(&file)) {
            Ok(_) => {
                println!("{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Config(ConfigCommand::Export { file }) => {
            match config::export_json(file.as_deref()) {
                Ok(json) => {
                    println!("{json}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Config(ConfigCommand::Schema) => {
            print!("{}", config::SCHEMA);
            ExitCode::SUCCESS
        }
        Command::Version(args) => {
            let info = http::version::info();
            match args.output {
                VersionFormat::Text => println!(
                    "multicluster-controlplane {} (Kubernetes API {})",
                    env!("CARGO_PKG_VERSION"),
                    info.git_version
                ),
                VersionFormat::Json => match serde_json::to_string_pretty(&info) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::FAILURE;
                    }
                },
            }
            ExitCode::SUCCESS
        }
    }
}

/// Loads the configuration and applies command-line overrides; prints the error otherwise.
fn load(args: &ConfigArgs) -> Result<Config, ExitCode> {
    let mut config = config::load(args.config.as_deref()).map_err(|e| {
        eprintln!("{e}");
        ExitCode::FAILURE
    })?;
    args.apply_overrides(&mut config);
    Ok(config)
}

/// Loads the configuration, starts logging and builds the async runtime.
fn prepare(
    args: &ConfigArgs,
    multi_thread: bool,
) -> Result<(Config, tokio::runtime::Runtime), ExitCode> {
    let config = load(args)?;
    logging::init(config.logging.level, config.logging.format);
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = builder.enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        ExitCode::FAILURE
    })?;
    Ok((config, runtime))
}

fn run_server(args: &ConfigArgs) -> ExitCode {
    let (config, runtime) = match prepare(args, true) {
        Ok(pair) => pair,
        Err(code) => return code,
    };
    match runtime.block_on(server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Replaces every `server:` line of a kubeconfig.
fn replace_server(kubeconfig: &str, server: Option<&str>) -> String {
    let Some(server) = server else {
        return kubeconfig.to_string();
    };
    kubeconfig
        .lines()
        .map(|line| match line.split_once("server:") {
            Some((indent, _)) if indent.trim().is_empty() => format!("{indent}server: {server}"),
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}
