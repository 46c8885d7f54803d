//! `lockbox`: the operator's and the customer's auditor's command line for a Customer Lockbox
//! store. See `lockbox --help`, and README.md's "Operating a store".
//!
//! One module per job: [`cli`] (the arguments), [`open`] (a store by URL), [`failure`] (errors
//! and exit codes), [`print`](mod@print) (tables and JSON), then the commands: [`requests`], [`audit`],
//! [`policy`], [`evidence`], [`operate`] and [`demo`].

mod audit;
mod cli;
mod demo;
mod evidence;
mod failure;
mod open;
mod operate;
mod policy;
mod print;
mod requests;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::failure::Failure;
use crate::open::Access;
use crate::print::Output;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Output::new(cli.json);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return Failure::io("starting the async runtime", err).report(&out),
    };
    match runtime.block_on(run(cli, &out)) {
        Ok(code) => code,
        Err(failure) => failure.report(&out),
    }
}

/// Runs one command. Commands that need no store run here; the others run on the store the
/// URL names, opened for reading unless the command writes.
async fn run(cli: Cli, out: &Output) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "lockbox",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::VerifyOffline(args) => evidence::verify_offline(args, out),
        Command::Keygen(args) => evidence::keygen(args, out),
        Command::Demo(args) => demo::run(cli.store, args, out).await,
        command => {
            let access = if command.writes() {
                Access::Write {
                    create: matches!(command, Command::Migrate),
                }
            } else {
                Access::Read
            };
            let url = cli.store.ok_or_else(Failure::no_store)?;
            open::with_store(&url, access, cli.store_clock, command, out).await
        }
    }
}
